-- Push of each product's changes to open dashboards (issue 12): one row per open WebSocket connection.
--   connection_id  API Gateway's connection id (the local gateway makes ids of the same form);
--   user_id        the token subject (`sub`) the connection was authorised for: a seller gets their own
--                  products' changes;
--   reviewer       the token named the reviewers' group: the connection gets every product's changes;
--   expires_at     when the token it connected with expires: nothing is sent after that (the page reconnects
--                  with a new token), and the row is deleted at the next change that finds it;
--   connected_at   API Gateway closes a connection after 2 hours, so an older row is one whose $disconnect
--                  never arrived, and is deleted like an expired one.
-- A post answered 410 Gone (the client left without a $disconnect) deletes its row.
CREATE TABLE push_connections (
  connection_id VARCHAR(128) NOT NULL PRIMARY KEY,
  user_id VARCHAR(128) NOT NULL,
  reviewer BOOLEAN NOT NULL,
  connected_at DATETIME(3) NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  KEY ix_push_connections_user (user_id),
  KEY ix_push_connections_reviewer (reviewer, connection_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
