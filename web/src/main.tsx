import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app.tsx";
import { DASHBOARD_CONFIG_PATH, parseDashboardConfig } from "./dashboard-config.ts";
import "./styles.css";

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");

/** The environment first (where the API is, how to sign in); a page that cannot start says why. */
const start = async () => {
  try {
    const response = await fetch(DASHBOARD_CONFIG_PATH, { cache: "no-store" });
    if (!response.ok) throw new Error(`${DASHBOARD_CONFIG_PATH} answered ${response.status}`);
    const config = parseDashboardConfig(await response.json());
    createRoot(root).render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    root.innerHTML = "";
    const main = document.createElement("main");
    main.innerHTML = '<h1>Pixel Lab could not start</h1><p role="alert"></p>';
    const alert = main.querySelector("p");
    if (alert) alert.textContent = `The dashboard could not read its configuration: ${message}`;
    root.append(main);
  }
};

void start();
