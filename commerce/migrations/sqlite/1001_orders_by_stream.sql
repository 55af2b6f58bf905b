-- Studio stats and staff views read a stream's orders by status (GET /api/v1/streams/{id}/stats).
CREATE INDEX commerce_orders_stream ON commerce_orders (stream_id, status);
