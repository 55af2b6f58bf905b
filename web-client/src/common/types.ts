// Wire shapes of the commerce layer (commerce/src/transport/wire.rs, events.rs, domain/*).

/** When an event happened on the stream's media timeline (`epoch`/`pts_ms` null = not live). */
export interface Stamp {
  epoch: number | null;
  pts_ms: number | null;
  /** PROGRAM-DATE-TIME (Unix ms) of the frame the host was on, or wall time when not live. */
  pdt_ms: number;
}

export interface CommerceEvent {
  stream_id: string;
  seq: number;
  kind: string;
  actor: string | null;
  to?: string | null;
  stamp: Stamp;
  data: any;
}

/** A stream's audience (`viewers` frame, `/info` `audience`, `/stats` `viewers`). */
export interface Viewers {
  /** People playing the video: WebRTC + LL-HLS players, over every engine. */
  viewers: number;
  webrtc: number;
  llhls: number;
  /** Open live-update connections (viewer pages, studio, moderators). */
  connected: number;
}

/** `GET /api/v1/streams/{id}/stats` (host, moderator or admin). */
export interface StreamStats {
  stream_id: string;
  viewers: Viewers;
  reactions: number;
  chat_messages: number;
  gifts: number;
  gift_coins: number;
  orders: { paid: number; pending: number; failed: number };
  revenue: { currency: string; total_minor: number }[];
}

export interface Product {
  id: string;
  title: string;
  price_minor: number;
  currency: string;
  stock: number;
  image_url: string | null;
}

export interface Poll {
  id: string;
  question: string;
  options: string[];
  multiple: boolean;
  closed: boolean;
  tally: number[];
  voters: number;
}

export interface SaleWindow {
  epoch: number | null;
  start_pdt_ms: number;
  end_pdt_ms: number;
}

export interface FlashSale {
  id: string;
  product_id: string;
  sale_price_minor: number;
  currency: string;
  stock_limit: number;
  remaining: number;
  per_customer_limit: number;
  duration_ms: number;
  state: 'scheduled' | 'live' | 'ended';
  window: SaleWindow | null;
}

export interface ChatMessage {
  id: string;
  user_id: string;
  user_name: string | null;
  text: string;
  role?: string;
}

export interface TokenAnswer {
  token: string;
  user_id: string;
  name: string | null;
  role: string;
  stream_id: string | null;
  expires_at: number;
}
