//! One RTMP session after the handshake: chunk guard, rml_rtmp's ServerSession, authentication
//! and media hand-off to the bus. No socket here: bytes in, bytes to send out.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};

use super::chunk_guard::ChunkGuard;
use super::config::RtmpConfig;
use super::error::{MediaError, RtmpError};
use super::stats::RtmpStats;
use super::status::StatusWriter;
use super::to_stream::{Output, ToStream};
use crate::ingest::{IngestRefusal, PublishTarget};
use crate::stream::{PublishError, Publisher};

const AMF0_COMMAND: u8 = 20;
const AMF3_COMMAND: u8 = 17;
/// OBS and ffmpeg send about ten commands per connection.
const MAX_COMMANDS: u32 = 256;

/// What every connection of one server shares.
pub(super) struct Ctx {
    pub(super) target: Arc<dyn PublishTarget>,
    pub(super) config: RtmpConfig,
    pub(super) stats: Arc<RtmpStats>,
}

pub(super) struct RtmpSession {
    ctx: Arc<Ctx>,
    remote: String,
    server: ServerSession,
    guard: ChunkGuard,
    status: StatusWriter,
    media: ToStream,
    publisher: Option<Publisher>,
    /// Command messages received; capped so a peer cannot grow rml_rtmp's stream table
    /// (createStream) or our log without bound.
    commands: u32,
    /// Message stream of the publish command (where refusals after it are reported).
    publish_stream_id: u32,
    finished: bool,
}

impl RtmpSession {
    /// Starts the session; its opening messages (chunk size, window ack...) go to `out`.
    pub(super) fn new(ctx: Arc<Ctx>, remote: String, out: &mut Vec<u8>) -> Result<Self, RtmpError> {
        let config = ServerSessionConfig::new();
        let chunk_size = config.chunk_size;
        let (server, results) = ServerSession::new(config)?;
        emit(results, out);
        let c = &ctx.config;
        Ok(Self {
            guard: ChunkGuard::new(c.max_chunk_size, c.max_message_size),
            media: ToStream::new(c.audio_wait, c.video_wait),
            status: StatusWriter::new(chunk_size),
            server,
            remote,
            publisher: None,
            publish_stream_id: 0,
            commands: 0,
            finished: false,
            ctx,
        })
    }

    /// The peer said it is done publishing (deleteStream, FCUnpublish, closeStream); the
    /// connection stays open until the peer closes it.
    pub(super) fn finished(&self) -> bool {
        self.finished
    }

    /// A publisher is attached (published and not yet unpublished).
    pub(super) fn is_publishing(&self) -> bool {
        self.publisher.is_some()
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.publisher.as_ref().and(self.media.next_deadline())
    }

    /// Feeds received bytes. On a refusal, the status for the peer is already in `out`.
    pub(super) fn input(
        &mut self,
        mut bytes: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<(), RtmpError> {
        while !bytes.is_empty() {
            let (n, stream_id) = match self.guard.advance(bytes)? {
                Some(end) => {
                    if matches!(end.type_id, AMF0_COMMAND | AMF3_COMMAND) {
                        self.commands += 1;
                        if self.commands > MAX_COMMANDS {
                            return Err(RtmpError::Malformed("more than 256 commands"));
                        }
                    }
                    (end.consumed, Some(end.stream_id))
                }
                None => (bytes.len(), None),
            };
            let results = self.feed_server(&bytes[..n])?;
            bytes = &bytes[n..];
            let stream_id = stream_id.unwrap_or(self.publish_stream_id);
            for result in results {
                let r = self.handle(result, stream_id, now, out);
                self.report(r, stream_id, out)?;
            }
        }
        Ok(())
    }

    /// rml_rtmp indexes into some peer-supplied values (a bare `@setDataFrame` panics it);
    /// such a panic refuses this connection instead of unwinding through the task.
    fn feed_server(&mut self, bytes: &[u8]) -> Result<Vec<ServerSessionResult>, RtmpError> {
        let server = &mut self.server;
        match std::panic::catch_unwind(AssertUnwindSafe(|| server.handle_input(bytes))) {
            Ok(r) => Ok(r?),
            Err(_) => Err(RtmpError::Malformed("rml_rtmp could not parse a message")),
        }
    }

    pub(super) fn tick(&mut self, now: Instant, out: &mut Vec<u8>) -> Result<(), RtmpError> {
        let r = self.media.on_tick(now).map_err(RtmpError::from);
        let r = self.after_media(r);
        self.report(r, self.publish_stream_id, out)
    }

    /// Puts the onStatus that tells the peer why, if the error has one, before passing it on.
    fn report(
        &mut self,
        r: Result<(), RtmpError>,
        stream_id: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), RtmpError> {
        if let Err(e) = &r {
            if let Some(code) = e.publish_status() {
                let msg = self.status.error(stream_id, code, &e.to_string());
                out.extend_from_slice(&msg);
            }
        }
        r
    }

    fn handle(
        &mut self,
        result: ServerSessionResult,
        stream_id: u32,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<(), RtmpError> {
        let event = match result {
            ServerSessionResult::OutboundResponse(p) => {
                out.extend_from_slice(&p.bytes);
                return Ok(());
            }
            ServerSessionResult::UnhandleableMessageReceived(m) => {
                tracing::debug!(remote = %self.remote, type_id = m.type_id, "rtmp message ignored");
                return Ok(());
            }
            ServerSessionResult::RaisedEvent(e) => e,
        };
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                let app = app_name.split('?').next().unwrap_or_default();
                if app != self.ctx.config.app {
                    let desc = format!("unknown app {app:?}");
                    emit(
                        self.server.reject_request(
                            request_id,
                            "NetConnection.Connect.Rejected",
                            &desc,
                        )?,
                        out,
                    );
                    return Err(RtmpError::WrongApp {
                        got: app.to_owned(),
                        expected: self.ctx.config.app.clone(),
                    });
                }
                emit(self.server.accept_request(request_id)?, out);
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => {
                if self.publisher.is_some() {
                    return Err(RtmpError::SecondPublish);
                }
                let key = stream_key.split('?').next().unwrap_or_default();
                let publisher = self
                    .ctx
                    .target
                    .publish(key, "rtmp", &self.remote)
                    .map_err(refusal)?;
                self.ctx.stats.publishes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    remote = %self.remote,
                    stream = publisher.stream().id(),
                    epoch = publisher.epoch(),
                    "rtmp publish started"
                );
                self.publisher = Some(publisher);
                self.finished = false;
                self.media = ToStream::new(self.ctx.config.audio_wait, self.ctx.config.video_wait);
                self.publish_stream_id = stream_id;
                emit(self.server.accept_request(request_id)?, out);
            }
            ServerSessionEvent::PublishStreamFinished { .. } => self.finish("deleteStream"),
            ServerSessionEvent::PlayStreamRequested { .. } => return Err(RtmpError::Play),
            ServerSessionEvent::StreamMetadataChanged { .. }
            | ServerSessionEvent::VideoDataReceived { .. }
            | ServerSessionEvent::AudioDataReceived { .. }
                if self.publisher.is_none() =>
            {
                // Media after FCUnpublish: the session is over, nothing goes to the bus.
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                let r = self
                    .media
                    .on_metadata(&metadata, now)
                    .map_err(RtmpError::from);
                self.after_media(r)?;
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                let r = self
                    .media
                    .on_video(timestamp.value, &data, now)
                    .map_err(RtmpError::from);
                self.after_media(r)?;
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                let r = self
                    .media
                    .on_audio(timestamp.value, &data, now)
                    .map_err(RtmpError::from);
                self.after_media(r)?;
            }
            ServerSessionEvent::UnhandleableAmf0Command { command_name, .. } => {
                match command_name.as_str() {
                    "FCUnpublish" => self.finish("FCUnpublish"),
                    other => {
                        tracing::debug!(remote = %self.remote, command = other, "rtmp command ignored")
                    }
                }
            }
            other => tracing::trace!(remote = %self.remote, event = ?other, "rtmp event"),
        }
        Ok(())
    }

    /// Hands the media core's outputs to the publisher, whatever `r` is: units released
    /// before a refusal still reach the bus.
    fn after_media(&mut self, r: Result<(), RtmpError>) -> Result<(), RtmpError> {
        while let Some(output) = self.media.poll_output() {
            let Some(publisher) = &self.publisher else {
                continue;
            };
            match output {
                Output::Tracks(tracks) => publisher.set_tracks(tracks),
                Output::Unit(unit) => publisher.write(unit).map_err(MediaError::from)?,
            }
        }
        r
    }

    fn finish(&mut self, how: &str) {
        if let Some(p) = self.publisher.take() {
            tracing::info!(remote = %self.remote, stream = p.stream().id(), how, "rtmp publish finished");
        }
        self.finished = true;
    }
}

fn emit(results: Vec<ServerSessionResult>, out: &mut Vec<u8>) {
    for r in results {
        if let ServerSessionResult::OutboundResponse(p) = r {
            out.extend_from_slice(&p.bytes);
        }
    }
}

fn refusal(r: IngestRefusal) -> RtmpError {
    match r {
        IngestRefusal::UnknownKey => RtmpError::UnknownKey,
        IngestRefusal::Publish(PublishError::AlreadyPublishing(id)) => {
            RtmpError::AlreadyPublishing(id)
        }
        IngestRefusal::Publish(e) => RtmpError::Media(MediaError::Bus(e)),
    }
}
