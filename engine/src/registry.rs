//! The stream registry: every stream record, with its media bus and egress, by id and by key.
//!
//! Ingest servers reach it only through [`PublishTarget`]; the HTTP layer through the methods
//! below. It holds no protocol logic.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use showroom_pipelines::ingest::PublishTarget;
use showroom_pipelines::llhls::{self, LlHlsConfig, Origin};
use showroom_pipelines::record::{self, RecordConfig, Recorder, Recordings};
use showroom_pipelines::stream::Stream;
use showroom_pipelines::transcode::{self, AbrConfig, Ladder};

use crate::db::{Database, DbError, StreamRecord};

/// One registered stream.
pub struct Entry {
    pub record: StreamRecord,
    pub bus: Arc<Stream>,
    /// The LL-HLS egress, reading the bus for the stream's whole life.
    pub origin: Arc<Origin>,
    /// The recorder (reads the bus for the stream's whole life), unless recording is off.
    pub recorder: Option<Arc<Recorder>>,
    /// The ABR transcoder and its rendition buses (`None`: passthrough only).
    pub ladder: Option<Ladder>,
}

/// Where and how streams are recorded.
#[derive(Debug, Clone)]
pub struct RecordingSetup {
    pub recordings: Recordings,
    pub config: RecordConfig,
}

#[derive(Default)]
struct Maps {
    by_id: HashMap<String, Arc<Entry>>,
    by_key: HashMap<String, Arc<Entry>>,
}

pub struct Registry {
    db: Database,
    llhls: LlHlsConfig,
    recording: RecordingSetup,
    abr: AbrConfig,
    maps: RwLock<Maps>,
}

impl Registry {
    /// Loads every stored stream and starts its bus and egress. Must run inside the tokio
    /// runtime (egress tasks are spawned on it).
    pub async fn load(
        db: Database,
        llhls: LlHlsConfig,
        recording: RecordingSetup,
        abr: AbrConfig,
    ) -> Result<Arc<Self>, DbError> {
        let registry = Arc::new(Self {
            db,
            llhls,
            recording,
            abr,
            maps: RwLock::new(Maps::default()),
        });
        registry.refresh().await?;
        Ok(registry)
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The recordings of every stream (read by the replay routes).
    pub fn recordings(&self) -> &Recordings {
        &self.recording.recordings
    }

    /// Re-reads the table: picks up streams created by another engine process on the same
    /// database and drops those deleted there.
    pub async fn refresh(&self) -> Result<(), DbError> {
        let records = self.db.list_streams().await?;
        let mut deleted = Vec::new();
        {
            let mut maps = self.maps.write();
            let mut keep = HashMap::with_capacity(records.len());
            for record in records {
                let entry = match maps.by_id.remove(&record.id) {
                    Some(entry) => entry,
                    None => self.start(record),
                };
                keep.insert(entry.record.id.clone(), entry);
            }
            for (id, gone) in maps.by_id.drain() {
                gone.close();
                deleted.push(id);
            }
            maps.by_key = keep
                .values()
                .map(|e| (e.record.stream_key.clone(), Arc::clone(e)))
                .collect();
            maps.by_id = keep;
        }
        // Deleted through another engine: this engine's recordings of it go too.
        for id in deleted {
            if let Err(e) = self.recording.recordings.delete(&id).await {
                tracing::error!(stream = %id, error = %e, "recordings of a deleted stream could not be removed");
            }
        }
        Ok(())
    }

    fn start(&self, record: StreamRecord) -> Arc<Entry> {
        let bus = Stream::new(record.id.clone());
        let origin = llhls::spawn(Arc::clone(&bus), self.llhls.clone());
        let recorder = self.recording.config.enabled.then(|| {
            record::spawn(
                &bus,
                &self.recording.recordings,
                self.recording.config.clone(),
            )
        });
        let ladder = transcode::spawn(&bus, self.abr.ladder_for(&record.id), &self.abr);
        for (spec, rendition) in ladder.iter().flat_map(|l| l.renditions.iter()) {
            let bps = u64::from(spec.bitrate_kbps) * 1000;
            llhls::spawn_rendition(&origin, &spec.name, rendition, bps);
        }
        Arc::new(Entry {
            record,
            bus,
            origin,
            recorder,
            ladder,
        })
    }

    pub async fn create(&self, title: String) -> Result<Arc<Entry>, DbError> {
        let (id, stream_key) = {
            let mut rng = rand::thread_rng();
            (
                format!("{:016x}", rng.gen::<u64>()),
                format!("sk_{}", Alphanumeric.sample_string(&mut rng, 24)),
            )
        };
        let record = StreamRecord {
            id,
            title,
            stream_key,
            created_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default(),
        };
        self.db.insert_stream(&record).await?;
        let entry = self.start(record);
        let mut maps = self.maps.write();
        maps.by_key
            .insert(entry.record.stream_key.clone(), Arc::clone(&entry));
        maps.by_id
            .insert(entry.record.id.clone(), Arc::clone(&entry));
        Ok(entry)
    }

    /// The stream, read from the database if this process does not know it yet (created by
    /// another engine process on the same database).
    pub async fn get_or_load(&self, id: &str) -> Result<Option<Arc<Entry>>, DbError> {
        if let Some(e) = self.get(id) {
            return Ok(Some(e));
        }
        let Some(record) = self.db.get_stream(id).await? else {
            return Ok(None);
        };
        let mut maps = self.maps.write();
        if let Some(e) = maps.by_id.get(id) {
            return Ok(Some(Arc::clone(e))); // loaded concurrently
        }
        let entry = self.start(record);
        maps.by_key
            .insert(entry.record.stream_key.clone(), Arc::clone(&entry));
        maps.by_id
            .insert(entry.record.id.clone(), Arc::clone(&entry));
        tracing::info!(
            stream = id,
            "stream found in the database (created by another process)"
        );
        Ok(Some(entry))
    }

    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        self.maps.read().by_id.get(id).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Entry>> {
        let mut all: Vec<_> = self.maps.read().by_id.values().cloned().collect();
        all.sort_by(|a, b| {
            (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id))
        });
        all
    }

    /// Deletes the stream and its recordings; a live publisher is cut off. Returns whether it
    /// existed.
    pub async fn delete(&self, id: &str) -> Result<bool, DbError> {
        let existed = self.db.delete_stream(id).await?;
        {
            let mut maps = self.maps.write();
            if let Some(entry) = maps.by_id.remove(id) {
                maps.by_key.remove(&entry.record.stream_key);
                entry.close();
                tracing::info!(stream = id, "stream deleted");
            }
        }
        if existed {
            if let Err(e) = self.recording.recordings.delete(id).await {
                tracing::error!(stream = id, error = %e, "recordings of a deleted stream could not be removed");
            }
        }
        Ok(existed)
    }
}

impl Entry {
    /// The stream is gone: its bus and rendition buses refuse publishers from now on.
    fn close(&self) {
        self.bus.close();
        if let Some(l) = &self.ladder {
            l.close();
        }
    }
}

impl PublishTarget for Registry {
    fn find_by_key(&self, key: &str) -> Option<Arc<Stream>> {
        self.maps.read().by_key.get(key).map(|e| Arc::clone(&e.bus))
    }
}

impl showroom_signaling::StreamLookup for Registry {
    fn stream(&self, id: &str) -> Option<Arc<Stream>> {
        self.get(id).map(|e| Arc::clone(&e.bus))
    }

    /// The ABR renditions, highest bitrate first, as the SFU's layers.
    fn layers(&self, id: &str) -> Vec<showroom_signaling::Layer> {
        let Some(entry) = self.get(id) else {
            return Vec::new();
        };
        let mut layers: Vec<_> = entry
            .ladder
            .iter()
            .flat_map(|l| l.renditions.iter())
            .map(|(spec, bus)| showroom_signaling::Layer {
                name: spec.name.clone(),
                height: spec.height,
                bitrate_bps: u64::from(spec.bitrate_kbps) * 1000,
                stream: Arc::clone(bus),
            })
            .collect();
        layers.sort_by_key(|l| std::cmp::Reverse(l.bitrate_bps));
        layers
    }
}
