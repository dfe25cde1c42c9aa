import type { Api, ProductStatus } from "../api.ts";
import { usePagedProducts } from "../paged.ts";
import { Link } from "../router.tsx";
import { STATUS_LABELS, STATUSES } from "../status.ts";
import { Failed, Loading, PageHeading, StatusBadge } from "../ui.tsx";

const PAGE_SIZE = 24;

/** A seller's products as a gallery, filtered by status. */
export const Gallery = ({ api, status }: { api: Api; status: ProductStatus | undefined }) => {
  const products = usePagedProducts(api, { status, limit: PAGE_SIZE });
  const heading = status ? `My products: ${STATUS_LABELS[status]}` : "My products";
  return (
    <>
      <div className="page-head">
        <PageHeading title={heading}>My products</PageHeading>
        <button type="button" onClick={products.reload}>
          Refresh
        </button>
      </div>
      <nav aria-label="Filter by status" className="filters">
        <ul>
          <li>
            <Link href="/gallery" aria-current={status === undefined ? "page" : undefined}>
              All
            </Link>
          </li>
          {STATUSES.map((value) => (
            <li key={value}>
              <Link href={`/gallery?status=${value}`} aria-current={status === value ? "page" : undefined}>
                {STATUS_LABELS[value]}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      {products.first.state === "loading" ? <Loading what="your products" /> : null}
      {products.first.state === "failed" ? (
        <Failed message={products.first.message} retry={products.reload} />
      ) : null}
      {products.first.state === "ready" && products.items.length === 0 ? (
        <p className="empty">
          {status
            ? `No products are ${STATUS_LABELS[status].toLowerCase()}.`
            : "No products yet. Create some under New products, with the API or `npm run demo`."}
        </p>
      ) : null}
      {products.items.length > 0 ? (
        <ul className="gallery" aria-label="Products">
          {products.items.map((product) => (
            <li key={product.id} className="card">
              <Link href={`/product/${product.id}`} className="card-link">
                {product.thumbnailUrl ? (
                  <img src={product.thumbnailUrl} alt="" loading="lazy" width={400} height={400} />
                ) : (
                  <span className="thumb-empty" aria-hidden="true">
                    No image yet
                  </span>
                )}
                <span className="card-title">{product.title}</span>
              </Link>
              <p className="sku">{product.sku}</p>
              <StatusBadge status={product.status} />
              {product.statusReason ? <p className="reason">{product.statusReason}</p> : null}
            </li>
          ))}
        </ul>
      ) : null}
      <MoreButton products={products} />
    </>
  );
};

export const MoreButton = ({ products }: { products: ReturnType<typeof usePagedProducts> }) => (
  <>
    {products.moreFailed ? <Failed message={products.moreFailed} retry={products.more} /> : null}
    {products.first.state === "ready" && products.hasMore ? (
      <p>
        <button type="button" onClick={products.more} disabled={products.loadingMore}>
          {products.loadingMore ? "Loading…" : "Show more"}
        </button>
      </p>
    ) : null}
  </>
);
