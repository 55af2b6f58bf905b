//! The little XML S3 answers with, read without an XML library: error `Code`/`Message` and
//! ListObjectsV2 pages. Sans-IO.

use std::time::SystemTime;

use super::client::ObjectInfo;

/// The text of the first `<tag>…</tag>`, entities decoded.
pub fn text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(unescape(&xml[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub truncated: bool,
    pub next: Option<String>,
}

fn parse_time(s: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(SystemTime::from)
        .map_err(|e| format!("LastModified {s:?}: {e}"))
}

pub fn list_page(xml: &str) -> Result<ListPage, String> {
    if !xml.contains("<ListBucketResult") {
        return Err(format!(
            "not a ListBucketResult: {}",
            xml.chars().take(200).collect::<String>()
        ));
    }
    let mut page = ListPage {
        truncated: text(xml, "IsTruncated").as_deref() == Some("true"),
        next: text(xml, "NextContinuationToken"),
        ..Default::default()
    };
    for chunk in xml.split("<Contents>").skip(1) {
        let item = chunk.split("</Contents>").next().unwrap_or_default();
        let key = text(item, "Key").ok_or("Contents without Key")?;
        let size = text(item, "Size")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{key}: no Size"))?;
        let last_modified = parse_time(&text(item, "LastModified").unwrap_or_default())?;
        page.objects.push(ObjectInfo {
            key,
            size,
            last_modified,
        });
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_page_and_an_error() {
        let page = list_page(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>r/</Prefix>
<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>r/a&amp;b/1.m4s</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>"x"</ETag><Size>434234</Size></Contents>
<Contents><Key>r/a/init.mp4</Key><LastModified>2009-10-12T17:50:31Z</LastModified><Size>7</Size></Contents>
</ListBucketResult>"#,
        )
        .unwrap();
        assert!(page.truncated);
        assert_eq!(
            page.next.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].key, "r/a&b/1.m4s");
        assert_eq!(page.objects[0].size, 434234);
        assert_eq!(
            page.objects[1]
                .last_modified
                .duration_since(page.objects[0].last_modified)
                .unwrap()
                .as_millis(),
            1000
        );
        assert!(list_page("<Error><Code>AccessDenied</Code></Error>").is_err());
        assert_eq!(
            text("<Error><Code>SignatureDoesNotMatch</Code></Error>", "Code").as_deref(),
            Some("SignatureDoesNotMatch")
        );
    }
}
