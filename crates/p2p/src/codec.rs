//! Wire format of gossip data: snappy raw-block compression and content-based message ids.

use std::{io, sync::Arc};

use libp2p::gossipsub::{DataTransform, Message, MessageId, RawMessage, TopicHash};
use sha2::{Digest, Sha256};

use crate::metrics::Counters;

/// Length of a message id: the first 20 bytes of a sha256.
pub const MESSAGE_ID_LEN: usize = 20;

/// The id of a message: the first 20 bytes of `sha256(topic ‖ uncompressed payload)`.
///
/// This is the id gossipsub uses for de-duplication, the id in [`crate::IncomingMessage`],
/// and what a publisher can compute before publishing.
pub fn message_id(topic: &str, payload: &[u8]) -> MessageId {
    message_id_raw(topic.as_bytes(), payload)
}

fn message_id_raw(topic: &[u8], payload: &[u8]) -> MessageId {
    let mut hasher = Sha256::new();
    hasher.update(topic);
    hasher.update(payload);
    let digest = hasher.finalize();
    MessageId::new(&digest[..MESSAGE_ID_LEN])
}

/// The gossipsub `message_id_fn`. Gossipsub calls it on the transformed (decompressed) message,
/// both when publishing and when receiving. The topic hash of an `IdentTopic` is the topic string.
pub(crate) fn gossip_message_id(message: &Message) -> MessageId {
    message_id_raw(message.topic.as_str().as_bytes(), &message.data)
}

/// Compresses a payload into the gossip wire form (snappy raw block format).
pub fn compress(payload: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(payload)
}

/// Decompresses gossip wire data, refusing (before allocating) anything whose declared
/// decompressed length exceeds `max_len`.
pub fn decompress(data: &[u8], max_len: usize) -> Result<Vec<u8>, DecompressError> {
    let len =
        snap::raw::decompress_len(data).map_err(|e| DecompressError::Invalid(e.to_string()))?;
    if len > max_len {
        return Err(DecompressError::TooLarge { len, max: max_len });
    }
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|e| DecompressError::Invalid(e.to_string()))
}

/// Why gossip data could not be turned into a payload.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error("not valid snappy (raw block format): {0}")]
    Invalid(String),
    #[error("decompressed length {len} exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
}

/// Gossipsub data transform: snappy on the wire, plain payloads for the application.
///
/// An inbound message that does not decompress, or whose decompressed size exceeds the cap, makes
/// `inbound_transform` fail; gossipsub then drops it before it reaches the application, does not
/// forward it, and applies the same P4 "invalid message" penalty to the sender as an
/// application `Reject`. Such messages are counted as `undecodable`.
#[derive(Clone)]
pub(crate) struct SnappyTransform {
    pub(crate) max_payload_bytes: usize,
    pub(crate) counters: Arc<Counters>,
}

impl DataTransform for SnappyTransform {
    fn inbound_transform(&self, raw: RawMessage) -> Result<Message, io::Error> {
        match decompress(&raw.data, self.max_payload_bytes) {
            Ok(data) => Ok(Message {
                source: raw.source,
                data,
                sequence_number: raw.sequence_number,
                topic: raw.topic,
            }),
            Err(e) => {
                self.counters.undecodable.inc();
                tracing::debug!(source = ?raw.source, error = %e, "rejecting undecodable gossip message");
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }

    fn outbound_transform(&self, _topic: &TopicHash, data: Vec<u8>) -> Result<Vec<u8>, io::Error> {
        if data.len() > self.max_payload_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "payload of {} bytes exceeds {} bytes",
                    data.len(),
                    self.max_payload_bytes
                ),
            ));
        }
        compress(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_caps() {
        let payload = vec![7u8; 302];
        let wire = compress(&payload).unwrap();
        assert_eq!(decompress(&wire, 1024).unwrap(), payload);
        assert!(matches!(
            decompress(&wire, 301),
            Err(DecompressError::TooLarge { .. })
        ));
        assert!(matches!(
            decompress(&[0xff, 0xff, 0xff], 1024),
            Err(DecompressError::Invalid(_))
        ));
        assert!(decompress(&[], 1024).is_err());
    }

    #[test]
    fn message_id_is_sha256_prefix() {
        let id = message_id("t", b"abc");
        let full = Sha256::digest(b"tabc");
        assert_eq!(id.0, full[..20].to_vec());
    }

    #[test]
    fn truncated_snappy_never_panics() {
        let wire = compress(&[1u8; 302]).unwrap();
        for cut in 0..wire.len() {
            let _ = decompress(&wire[..cut], 1024);
        }
        for b in 0..=255u8 {
            let mut w = wire.clone();
            w[1] ^= b;
            let _ = decompress(&w, 1024);
        }
    }
}
