-- Group commits in one round trip (PostgreSQL only; SQLite runs the same steps as separate
-- statements in one transaction). Called as one statement outside BEGIN, so each call is its own
-- transaction: every write below commits together or not at all.

-- A batch of flash-sale winners (commerce/src/domain/flash_winners.rs), one element per winner
-- in every array. Returns one row per winner (i = its 1-based position):
--   ('banned', NULL, NULL, until_ms, NULL)  the buyer is banned on the stream: no order
--   ('used', scope, order, NULL, NULL)      the Idempotency-Key was used before: no new order
--   ('new', NULL, NULL, NULL, NULL)         key claimed, order inserted as `pending`
-- and one row per sale with new orders (i = 0): ('stock', sale, stream, remaining, seq of its
-- `flash.stock` event). If SQL refuses what Redis granted (fewer units left, a buyer over the
-- per-customer limit), it raises SQLSTATE SR001 and nothing is written.
CREATE FUNCTION commerce_flash_winners(
    p_now BIGINT, p_provider TEXT,
    p_user TEXT[], p_key TEXT[], p_stream TEXT[], p_sale TEXT[], p_scope TEXT[], p_order TEXT[],
    p_items TEXT[], p_total BIGINT[], p_currency TEXT[], p_qty BIGINT[], p_limit BIGINT[],
    p_created BIGINT[], p_epoch BIGINT[], p_pts BIGINT[], p_pdt BIGINT[])
RETURNS TABLE (i INT, outcome TEXT, a TEXT, b TEXT, n BIGINT, seq BIGINT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    banned INT[];
    claimed INT[];
    s RECORD;
    nrows BIGINT;
    left_ BIGINT;
    last BIGINT;
BEGIN
    -- 1. Banned buyers get no order.
    banned := ARRAY(
        SELECT w.i::INT FROM unnest(p_user, p_stream) WITH ORDINALITY AS w(u, st, i)
        JOIN commerce_sanctions x ON x.stream_id = w.st AND x.user_id = w.u AND x.kind = 'ban'
            AND x.until_ms > p_now);
    RETURN QUERY
        SELECT w.i::INT, 'banned'::TEXT, NULL::TEXT, NULL::TEXT, max(x.until_ms), NULL::BIGINT
        FROM unnest(p_user, p_stream) WITH ORDINALITY AS w(u, st, i)
        JOIN commerce_sanctions x ON x.stream_id = w.st AND x.user_id = w.u AND x.kind = 'ban'
            AND x.until_ms > p_now
        GROUP BY w.i;
    -- 2. Claim every other key, bound to its new order (a key in use by a concurrent
    --    transaction waits for it, as a plain INSERT would).
    WITH ins AS (
        INSERT INTO commerce_idempotency (user_id, idem_key, scope, result, created_ms)
        SELECT w.u, w.k, w.sc, w.o, p_now
        FROM unnest(p_user, p_key, p_scope, p_order) WITH ORDINALITY AS w(u, k, sc, o, i)
        WHERE NOT (w.i = ANY (banned))
        ON CONFLICT (user_id, idem_key) DO NOTHING
        RETURNING result)
    SELECT ARRAY(SELECT w.i::INT FROM unnest(p_order) WITH ORDINALITY AS w(o, i)
                 JOIN ins ON ins.result = w.o) INTO claimed;
    -- 3. Keys used before: what for, and their order (if any).
    RETURN QUERY
        SELECT w.i::INT, 'used'::TEXT, c.scope, c.result, NULL::BIGINT, NULL::BIGINT
        FROM unnest(p_user, p_key) WITH ORDINALITY AS w(u, k, i)
        JOIN commerce_idempotency c ON c.user_id = w.u AND c.idem_key = w.k
        WHERE NOT (w.i = ANY (banned)) AND NOT (w.i = ANY (claimed));
    -- 4. The orders.
    INSERT INTO commerce_orders (id, stream_id, user_id, source, items, total_minor, currency,
        status, payment_provider, payment_ref, test_mode, created_ms)
    SELECT w.o, w.st, w.u, w.sc, w.it, w.t, w.c, 'pending', p_provider, NULL, 0, w.cr
    FROM unnest(p_order, p_stream, p_user, p_scope, p_items, p_total, p_currency, p_created)
        WITH ORDINALITY AS w(o, st, u, sc, it, t, c, cr, i)
    WHERE w.i = ANY (claimed);
    RETURN QUERY SELECT x::INT, 'new'::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT
        FROM unnest(claimed) AS x;
    -- 5. Per sale: the buyers' counts, then the sale row and the stream's sequence row (hot:
    --    taken last, held until the commit at the end of this statement).
    FOR s IN
        SELECT w.sale, min(w.st) AS st, min(w.lim) AS lim, sum(w.q)::BIGINT AS total,
            count(DISTINCT w.u) AS buyers, min(w.ep) AS ep, min(w.pts) AS pts, min(w.pdt) AS pdt
        FROM unnest(p_sale, p_stream, p_limit, p_qty, p_user, p_epoch, p_pts, p_pdt)
            WITH ORDINALITY AS w(sale, st, lim, q, u, ep, pts, pdt, i)
        WHERE w.i = ANY (claimed)
        GROUP BY w.sale ORDER BY w.sale
    LOOP
        INSERT INTO commerce_flash_purchases (sale_id, user_id, qty)
        SELECT s.sale, w.u, sum(w.q)::BIGINT
        FROM unnest(p_sale, p_user, p_qty) WITH ORDINALITY AS w(sale, u, q, i)
        WHERE w.i = ANY (claimed) AND w.sale = s.sale
        GROUP BY w.u ORDER BY w.u
        ON CONFLICT (sale_id, user_id) DO UPDATE SET qty = commerce_flash_purchases.qty + EXCLUDED.qty
            WHERE commerce_flash_purchases.qty + EXCLUDED.qty <= s.lim;
        GET DIAGNOSTICS nrows = ROW_COUNT;
        IF nrows <> s.buyers THEN
            RAISE EXCEPTION 'flash sale %: a buyer is over the limit in SQL', s.sale USING ERRCODE = 'SR001';
        END IF;
        UPDATE commerce_flash_sales SET remaining = remaining - s.total
            WHERE id = s.sale AND remaining >= s.total RETURNING remaining INTO left_;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'flash sale %: fewer units left in SQL', s.sale USING ERRCODE = 'SR001';
        END IF;
        INSERT INTO commerce_stream_seq (stream_id, seq) VALUES (s.st, 1)
            ON CONFLICT (stream_id) DO UPDATE SET seq = commerce_stream_seq.seq + 1
            RETURNING commerce_stream_seq.seq INTO last;
        INSERT INTO commerce_events (stream_id, seq, kind, actor, audience, data, epoch, pts_ms, pdt_ms)
            VALUES (s.st, last, 'flash.stock', NULL, NULL,
                json_build_object('sale_id', s.sale, 'remaining', left_, 'sold', s.total)::TEXT,
                s.ep, s.pts, s.pdt);
        RETURN QUERY SELECT 0, 'stock'::TEXT, s.sale, s.st, left_, last;
    END LOOP;
END $$;

-- A batch of payment outcomes without restock (commerce/src/domain/settlements.rs): every
-- order's status, then per stream one bump of the sequence row and its `order.updated` events,
-- numbered in the order given. Returns (stream, last seq, events) per stream.
CREATE FUNCTION commerce_settle(
    p_order TEXT[], p_status TEXT[], p_ref TEXT[], p_test BIGINT[],
    p_stream TEXT[], p_audience TEXT[], p_data TEXT[], p_epoch BIGINT[], p_pts BIGINT[], p_pdt BIGINT[])
RETURNS TABLE (stream TEXT, last BIGINT, events BIGINT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s RECORD;
    top BIGINT;
BEGIN
    UPDATE commerce_orders o SET status = v.st, payment_ref = v.r, test_mode = v.t
    FROM unnest(p_order, p_status, p_ref, p_test) AS v(id, st, r, t)
    WHERE o.id = v.id AND o.status = 'pending';
    FOR s IN SELECT x AS st, count(*) AS cnt FROM unnest(p_stream) AS x GROUP BY x ORDER BY x LOOP
        INSERT INTO commerce_stream_seq (stream_id, seq) VALUES (s.st, s.cnt)
            ON CONFLICT (stream_id) DO UPDATE SET seq = commerce_stream_seq.seq + EXCLUDED.seq
            RETURNING commerce_stream_seq.seq INTO top;
        INSERT INTO commerce_events (stream_id, seq, kind, actor, audience, data, epoch, pts_ms, pdt_ms)
        SELECT s.st, top - s.cnt + row_number() OVER (ORDER BY e.i), 'order.updated', NULL, e.aud,
            e.data, e.ep, e.pts, e.pdt
        FROM unnest(p_stream, p_audience, p_data, p_epoch, p_pts, p_pdt)
            WITH ORDINALITY AS e(st, aud, data, ep, pts, pdt, i)
        WHERE e.st = s.st;
        RETURN QUERY SELECT s.st, top, s.cnt;
    END LOOP;
END $$;
