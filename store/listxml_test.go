package store

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// stdList is the same document as encoding/xml reads it: the reference
// parseList answers as.
type stdList struct {
	XMLName               struct{} `xml:"ListBucketResult"`
	IsTruncated           bool
	NextContinuationToken string
	EncodingType          string
	Contents              []struct {
		Key          string
		ETag         string
		Size         int64
		LastModified time.Time
	}
	CommonPrefixes []struct{ Prefix string }
}

func stdParse(doc string) (listResult, error) {
	var s stdList
	if err := xml.Unmarshal([]byte(doc), &s); err != nil {
		return listResult{}, err
	}
	res := listResult{IsTruncated: s.IsTruncated, Next: s.NextContinuationToken, EncodingType: s.EncodingType}
	for _, c := range s.Contents {
		res.Contents = append(res.Contents, listEntry{Key: c.Key, ETag: c.ETag, Size: c.Size, LastModified: c.LastModified})
	}
	for _, p := range s.CommonPrefixes {
		res.Prefixes = append(res.Prefixes, p.Prefix)
	}
	return res, nil
}

// Documents as stores send them.
var listDocs = map[string]string{
	// Amazon S3's documented example.
	"s3": `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
    <Name>bucket</Name>
    <Prefix/>
    <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
    <KeyCount>2</KeyCount>
    <MaxKeys>2</MaxKeys>
    <EncodingType>url</EncodingType>
    <IsTruncated>true</IsTruncated>
    <Contents>
        <Key>happy%20face.jpg</Key>
        <LastModified>2014-11-21T19:40:05.000Z</LastModified>
        <ETag>&quot;70ee1738b6b21e2c8a43f3a5ab0eee71&quot;</ETag>
        <Size>11</Size>
        <StorageClass>STANDARD</StorageClass>
        <Owner><ID>abc</ID><DisplayName>owner</DisplayName></Owner>
    </Contents>
    <Contents>
        <Key>a%2Bb/c.txt</Key>
        <LastModified>2014-11-21T19:40:06.000Z</LastModified>
        <ETag>"70ee1738b6b21e2c8a43f3a5ab0eee71-2"</ETag>
        <Size>5242880</Size>
        <StorageClass>STANDARD</StorageClass>
    </Contents>
    <CommonPrefixes><Prefix>photos%2F2014/</Prefix></CommonPrefixes>
    <CommonPrefixes><Prefix>videos/</Prefix></CommonPrefixes>
</ListBucketResult>`,
	// The embedded store (versitygw): the token before the contents, the
	// encoding type last and empty.
	"versitygw": `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>filegate</Name><Prefix>p/</Prefix><NextContinuationToken>p/a+b 2.txt</NextContinuationToken><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><Contents><LastModified>2026-12-03T07:10:12Z</LastModified><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType><ETag>&#34;764efa883dda1e11db47671c4a3bbd9e&#34;</ETag><Key>p/a+b 1.txt</Key><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><LastModified>2026-12-03T07:10:13Z</LastModified><ETag>&#34;764efa883dda1e11db47671c4a3bbd9e&#34;</ETag><Key>p/a+b 2.txt</Key><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents><EncodingType></EncodingType></ListBucketResult>`,
	"empty":     `<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`,
	"selfclose": `<ListBucketResult><Contents><Key/><Size/><ETag></ETag><LastModified>2026-01-02T03:04:05.5+01:00</LastModified></Contents><CommonPrefixes/></ListBucketResult>`,
	// What XML allows and no store is known to send.
	"xml": "<?xml version=\"1.0\"?>\n<!-- a comment --><s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\" a='>'>" +
		"<s3:Contents><s3:Key>a<!-- c -->b<![CDATA[<&>\r\n]]>&amp;&lt;&#x41;&#66;\r\nz<Nested>no</Nested></s3:Key><Size> 42 </Size>" +
		"<LastModified>2026-12-03T00:00:00Z</LastModified><Key>last</Key></s3:Contents>" +
		"<IsTruncated> 1 </IsTruncated><NextContinuationToken>t1</NextContinuationToken><NextContinuationToken>t2</NextContinuationToken>" +
		"<Other><Contents><Key>not a key</Key></Contents></Other></s3:ListBucketResult>trailing <junk",
}

func TestParseList(t *testing.T) {
	for name, doc := range listDocs {
		got, err := parseList(strings.NewReader(doc))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want, err := stdParse(doc)
		if err != nil {
			t.Fatalf("%s: encoding/xml: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
		// Read a byte at a time: the answer does not depend on how the
		// body arrives.
		if got1, err := parseList(iotest.OneByteReader(strings.NewReader(doc))); err != nil || !reflect.DeepEqual(got1, got) {
			t.Errorf("%s, one byte at a time: %+v, %v", name, got1, err)
		}
	}
	s3, _ := parseList(strings.NewReader(listDocs["s3"]))
	if len(s3.Contents) != 2 || s3.Contents[0].Key != "happy%20face.jpg" || s3.Contents[0].ETag != `"70ee1738b6b21e2c8a43f3a5ab0eee71"` ||
		s3.Contents[1].Size != 5242880 || !s3.IsTruncated || s3.Next != "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=" ||
		s3.EncodingType != "url" || len(s3.Prefixes) != 2 || s3.Prefixes[0] != "photos%2F2014/" ||
		!s3.Contents[0].LastModified.Equal(time.Date(2014, 11, 21, 19, 40, 5, 0, time.UTC)) {
		t.Errorf("s3 example read as %+v", s3)
	}
	x, _ := parseList(strings.NewReader(listDocs["xml"]))
	if len(x.Contents) != 1 || x.Contents[0].Key != "last" || x.Contents[0].Size != 42 || x.Next != "t2" || !x.IsTruncated {
		t.Errorf("xml example read as %+v", x)
	}
}

func TestParseListRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":          "",
		"not xml":        "hello",
		"other root":     `<Error><Code>AccessDenied</Code></Error>`,
		"unclosed":       `<ListBucketResult><Contents><Key>a</Key></Contents>`,
		"mismatched":     `<ListBucketResult><Contents><Key>a</Size></Contents></ListBucketResult>`,
		"stray end":      `</ListBucketResult>`,
		"bad size":       `<ListBucketResult><Contents><Size>4k</Size></Contents></ListBucketResult>`,
		"bad bool":       `<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>`,
		"bad time":       `<ListBucketResult><Contents><LastModified>yesterday</LastModified></Contents></ListBucketResult>`,
		"unknown entity": `<ListBucketResult><Contents><Key>&nbsp;</Key></Contents></ListBucketResult>`,
		"bad cdata":      `<ListBucketResult><Contents><Key><![x]]></Key></Contents></ListBucketResult>`,
		"cut in a tag":   `<ListBucketResult><Contents><Ke`,
	} {
		if got, err := parseList(strings.NewReader(doc)); !errors.Is(err, errListXML) {
			t.Errorf("%s: %+v, %v; want a malformed-answer error", name, got, err)
		}
	}
	// A failed read is the read's error, not a malformed document.
	broken := io.MultiReader(strings.NewReader("<ListBucketResult><Contents>"), iotest.ErrReader(io.ErrClosedPipe))
	if _, err := parseList(broken); !errors.Is(err, io.ErrClosedPipe) || errors.Is(err, errListXML) {
		t.Errorf("a failed read: %v", err)
	}
}

// FuzzParseList: parseList never panics, and a document both it and
// encoding/xml read is read the same by both. (parseList may refuse what
// encoding/xml reads only in ways no store answers: numeric character
// references longer than 13 bytes; and may read what encoding/xml refuses,
// such as names XML does not allow.)
func FuzzParseList(f *testing.F) {
	for _, doc := range listDocs {
		f.Add(doc)
	}
	f.Add(`<ListBucketResult><Contents><Key>a&#x1F600;b</Key><Size>1</Size></Contents></ListBucketResult>`)
	f.Add(`<a:ListBucketResult xmlns:a="x"><a:Contents><a:Key>k</a:Key></a:Contents></a:ListBucketResult>`)
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := parseList(strings.NewReader(doc))
		want, stdErr := stdParse(doc)
		if err != nil || stdErr != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", doc, show(got), show(want))
		}
	})
}

func show(r listResult) string { return fmt.Sprintf("%+v", r) }

func BenchmarkParseList(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>filegate</Name><Prefix>small/</Prefix><NextContinuationToken>small/00999.txt</NextContinuationToken><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>`)
	for i := range 1000 {
		fmt.Fprintf(&sb, `<Contents><LastModified>2026-12-03T07:10:12Z</LastModified><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType><ETag>&#34;764efa883dda1e11db47671c4a3bbd9e&#34;</ETag><Key>small/%05d.txt</Key><Size>4096</Size><StorageClass>STANDARD</StorageClass></Contents>`, i)
	}
	sb.WriteString(`<EncodingType></EncodingType></ListBucketResult>`)
	doc := sb.String()
	b.SetBytes(int64(len(doc)))
	b.Run("parseList", func(b *testing.B) {
		for b.Loop() {
			if r, err := parseList(strings.NewReader(doc)); err != nil || len(r.Contents) != 1000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/xml", func(b *testing.B) {
		for b.Loop() {
			if r, err := stdParse(doc); err != nil || len(r.Contents) != 1000 {
				b.Fatal(err)
			}
		}
	})
}
