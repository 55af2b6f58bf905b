//! A small S3 client over `reqwest`: PutObject, GetObject (streamed), DeleteObject,
//! ListObjectsV2 (all pages) and HeadBucket, signed with [`super::sigv4`]. Path-style
//! (`http://host/bucket/key`) or virtual-host style (`https://bucket.host/key`) addressing.

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::Stream;
use reqwest::{Method, StatusCode, Url};

use super::sigv4::{self, Credentials, EMPTY_SHA256};
use super::xml;
use crate::record::config::S3Config;

/// Longest one request may take (headers and body, uploads included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an S3 request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    #[error("bad S3 configuration: {0}")]
    Config(String),
    #[error("S3 request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error (`code` from its XML body, e.g. SignatureDoesNotMatch).
    #[error("S3 refused {method} {key}: {status} {code}: {message}")]
    Status {
        method: String,
        key: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("S3 answered an unreadable list: {0}")]
    Xml(String),
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: SystemTime,
}

/// An object's body, read as it arrives.
pub struct ObjectBody {
    /// `Content-Length`, when the server sent it.
    pub len: Option<u64>,
    pub chunks: Pin<Box<dyn Stream<Item = Result<Bytes, S3Error>> + Send>>,
}

/// A client for one bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    http: reqwest::Client,
    endpoint: Url,
    bucket: String,
    region: String,
    path_style: bool,
    creds: Credentials,
    /// `max-keys` of a ListObjectsV2 page (S3's own default and maximum: 1000).
    page_size: u32,
}

impl S3Client {
    pub fn new(config: &S3Config) -> Result<Self, S3Error> {
        let endpoint = if config.endpoint.is_empty() {
            format!("https://s3.{}.amazonaws.com", config.region)
        } else {
            config.endpoint.clone()
        };
        let endpoint = Url::parse(&endpoint)
            .map_err(|e| S3Error::Config(format!("endpoint {endpoint:?}: {e}")))?;
        if endpoint.host_str().is_none() || !matches!(endpoint.scheme(), "http" | "https") {
            return Err(S3Error::Config(format!(
                "endpoint {endpoint} is not an http(s) URL with a host"
            )));
        }
        if config.bucket.is_empty() || config.bucket.contains('/') {
            return Err(S3Error::Config(format!("bucket {:?}", config.bucket)));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            endpoint,
            bucket: config.bucket.clone(),
            region: config.region.clone(),
            path_style: config.path_style,
            creds: Credentials {
                access_key_id: config.access_key_id.clone(),
                secret_access_key: config.secret_access_key.clone(),
            },
            page_size: 1000,
        })
    }

    /// Lists `n` keys per request (1..=1000) instead of 1000.
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, 1000);
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The URL and the canonical (encoded) path of `key` ("" = the bucket itself).
    fn locate(&self, key: &str) -> Result<(Url, String), S3Error> {
        let key = sigv4::uri_encode(key, true);
        let mut url = self.endpoint.clone();
        let path = if self.path_style {
            format!("/{}/{key}", self.bucket)
        } else {
            let host = format!("{}.{}", self.bucket, url.host_str().unwrap_or_default());
            url.set_host(Some(&host))
                .map_err(|e| S3Error::Config(format!("virtual host {host}: {e}")))?;
            format!("/{key}")
        };
        Ok((url, path))
    }

    /// Signs and sends one request; a non-2xx answer becomes [`S3Error::Status`] (404 too:
    /// callers that expect it match on the status).
    async fn send(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        body: Option<(Bytes, &str)>,
    ) -> Result<reqwest::Response, S3Error> {
        let (mut url, path) = self.locate(key)?;
        let query_string = sigv4::canonical_query(query);
        let full = if query_string.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query_string}")
        };
        url = url
            .join(&full)
            .map_err(|e| S3Error::Config(format!("{full}: {e}")))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(S3Error::Config(format!("{url} has no host"))),
        };
        let payload_hash = match &body {
            Some((b, _)) => sigv4::sha256_hex(b),
            None => EMPTY_SHA256.to_owned(),
        };
        let date = sigv4::amz_date(SystemTime::now());
        let headers = [
            ("host", host.as_str()),
            ("x-amz-content-sha256", payload_hash.as_str()),
            ("x-amz-date", date.as_str()),
        ];
        let auth = sigv4::authorization(
            &self.creds,
            &self.region,
            "s3",
            &date,
            &sigv4::Request {
                method: method.as_str(),
                path: &path,
                query,
                headers: &headers,
                payload_hash: &payload_hash,
            },
        );
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(REQUEST_TIMEOUT)
            .header("x-amz-content-sha256", &payload_hash)
            .header("x-amz-date", &date)
            .header("authorization", auth);
        if let Some((bytes, content_type)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.send().await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Err(S3Error::Status {
            method: method.to_string(),
            key: format!("{}/{key}", self.bucket),
            status,
            code: xml::text(&text, "Code").unwrap_or_else(|| {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("error")
                    .to_owned()
            }),
            message: xml::text(&text, "Message").unwrap_or_default(),
        })
    }

    /// Stores `bytes` at `key` (the payload hash is signed).
    pub async fn put_object(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), S3Error> {
        self.send(Method::PUT, key, &[], Some((bytes, content_type)))
            .await?;
        Ok(())
    }

    /// The object's body as a stream; `None` when there is no such key.
    pub async fn get_object(&self, key: &str) -> Result<Option<ObjectBody>, S3Error> {
        let resp = match self.send(Method::GET, key, &[], None).await {
            Ok(r) => r,
            Err(S3Error::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = resp.content_length();
        let chunks = futures::stream::unfold(Some(resp), |resp| async move {
            let mut resp = resp?;
            match resp.chunk().await {
                Ok(Some(b)) => Some((Ok(b), Some(resp))),
                Ok(None) => None,
                Err(e) => Some((Err(S3Error::Http(e)), None)),
            }
        });
        Ok(Some(ObjectBody {
            len,
            chunks: Box::pin(chunks),
        }))
    }

    /// The whole object in memory (small files: indexes, tables); `None` when missing.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>, S3Error> {
        match self.send(Method::GET, key, &[], None).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(S3Error::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes `key` (no error when it does not exist).
    pub async fn delete_object(&self, key: &str) -> Result<(), S3Error> {
        match self.send(Method::DELETE, key, &[], None).await {
            Ok(_) | Err(S3Error::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object whose key starts with `prefix`, all pages followed.
    ///
    /// A trailing `/` is left out of the request's `prefix` and applied here: some servers
    /// (moto 5.2) verify the signature of a `/` in a query value unencoded, where SigV4 (and
    /// AWS) encode it as `%2F`; so `<prefix><stream id>/` is asked as `<prefix><stream id>`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, S3Error> {
        let asked = prefix.trim_end_matches('/');
        let max_keys = self.page_size.to_string();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type", "2"),
                ("max-keys", max_keys.as_str()),
                ("prefix", asked),
            ];
            if let Some(t) = token.as_deref() {
                query.push(("continuation-token", t));
            }
            let text = self
                .send(Method::GET, "", &query, None)
                .await?
                .text()
                .await?;
            let page = xml::list_page(&text).map_err(S3Error::Xml)?;
            out.extend(
                page.objects
                    .into_iter()
                    .filter(|o| o.key.starts_with(prefix)),
            );
            match page.next {
                Some(next) if page.truncated => token = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// Checks that the bucket exists and the credentials are accepted.
    pub async fn head_bucket(&self) -> Result<(), S3Error> {
        self.send(Method::HEAD, "", &[], None).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_and_virtual_host_urls() {
        let mut config = S3Config {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "rec".into(),
            path_style: true,
            ..Default::default()
        };
        let (url, path) = S3Client::new(&config).unwrap().locate("a b/1.m4s").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(path, "/rec/a%20b/1.m4s");
        config.endpoint = String::new();
        config.region = "eu-west-1".into();
        config.path_style = false;
        let (url, path) = S3Client::new(&config)
            .unwrap()
            .locate("x/init.mp4")
            .unwrap();
        assert_eq!(url.host_str(), Some("rec.s3.eu-west-1.amazonaws.com"));
        assert_eq!(path, "/x/init.mp4");
        config.endpoint = "ftp://host".into();
        assert!(S3Client::new(&config).is_err());
        config.endpoint = String::new();
        config.bucket = String::new();
        assert!(S3Client::new(&config).is_err());
    }
}
