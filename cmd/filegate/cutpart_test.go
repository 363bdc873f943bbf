package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/harness"
)

// cutPUT sends the head of a PUT to rawURL with the signed headers and
// length, then a quarter of body, and drops the connection, as a page
// reload or a lost network does mid-upload.
func cutPUT(t *testing.T, rawURL string, headers map[string]string, body []byte) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", u.RequestURI(), u.Host, len(body))
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k != "Content-Length" {
			head += k + ": " + headers[k] + "\r\n"
		}
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body[:len(body)/4]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	time.Sleep(500 * time.Millisecond) // let the store finish with the request
}

// TestCutUploadIsNotKept: a PUT whose connection drops mid-body must leave
// nothing behind, neither a part nor an object. versitygw's posix backend
// preallocates the file to the declared length and keeps it after a short
// read, so without the embedded store's guard the store listed a
// whole-size part with a zero tail that a resuming client then trusted.
func TestCutUploadIsNotKept(t *testing.T) {
	t.Parallel()
	eachStoreMultipart(t, func(t *testing.T, e *harness.Env) {
		body := harness.RandomBytes(10<<20 + 1234)
		u := startMultipart(t, e, e.Admin, "cut/file.bin", body)
		cutPUT(t, u.Parts[0].URL, nil, body[:u.Parts[0].Size])
		var st statusResp
		r := e.Call(e.Admin, "GET", "/v1/uploads/"+u.UploadID, nil)
		harness.MustStatus(t, r, 200)
		r.JSON(t, &st)
		for _, sp := range st.Parts {
			t.Errorf("part %d kept after its PUT was cut at a quarter: size %d", sp.Number, sp.Size)
		}
		// Sent whole afterwards, the part is stored and the upload completes.
		var done []donePart
		for _, q := range u.Parts {
			done = append(done, putPart(t, q, body, u.PartSize))
		}
		harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/uploads/"+u.UploadID+"/complete", map[string]any{"parts": done}), 200)
		if got, _ := e.Object("cut/file.bin"); string(got) != string(body) {
			t.Error("stored object differs from the body sent")
		}

		// A single PUT cut the same way stores no object.
		small := harness.RandomBytes(400_000)
		var g uploadResp
		r = e.Call(e.Admin, "POST", "/v1/uploads", map[string]any{"key": "cut/small.bin", "size": len(small), "content_type": "application/octet-stream"})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &g)
		cutPUT(t, g.URL, g.Headers, small)
		if snap := e.StoreSnapshot(t); snap[e.Bucket+"/cut/small.bin"] != "" {
			t.Errorf("an object was stored from a PUT cut at a quarter: %s", snap[e.Bucket+"/cut/small.bin"])
		}
	})
}
