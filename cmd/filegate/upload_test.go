package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate/internal/harness"
)

type uploadResp struct {
	Type      string            `json:"type"`
	Key       string            `json:"key"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	UploadID  string            `json:"upload_id"`
	PartSize  int64             `json:"part_size"`
	PartCount int32             `json:"part_count"`
	Parts     []partURL         `json:"parts"`
	ExpiresAt time.Time         `json:"expires_at"`
}

type partURL struct {
	Number int32  `json:"number"`
	URL    string `json:"url"`
	Size   int64  `json:"size"`
}

type statusResp struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	PartCount int32  `json:"part_count"`
	Parts     []struct {
		Number int32  `json:"number"`
		ETag   string `json:"etag"`
		Size   int64  `json:"size"`
	} `json:"parts"`
}

type donePart struct {
	Number int32  `json:"number"`
	ETag   string `json:"etag"`
}

func TestPutGrant(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		body := harness.RandomBytes(100_000)
		var u uploadResp
		r := e.Call(e.Admin, "POST", "/v1/uploads", map[string]any{"key": "in/photo.jpg", "size": len(body), "content_type": "image/jpeg", "metadata": map[string]string{"album": "summer-2026"}})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &u)
		if u.Type != "put" || u.Method != "PUT" || u.Headers["Content-Type"] != "image/jpeg" || u.Headers["Content-Length"] != "100000" {
			t.Fatalf("grant = %+v", u)
		}
		// Wrong type, wrong length (fewer and more bytes): refused, nothing stored.
		wrongType := map[string]string{}
		for k, v := range u.Headers {
			wrongType[k] = v
		}
		wrongType["Content-Type"] = "text/html"
		if status, _, _ := harness.Send(t, "PUT", u.URL, wrongType, body); status != 403 {
			t.Errorf("wrong content type: status %d, want 403", status)
		}
		if status, _, _ := harness.Send(t, "PUT", u.URL, u.Headers, body[:99_999]); status < 400 {
			t.Errorf("short body: status %d, want refusal", status)
		}
		if status, _, _ := harness.Send(t, "PUT", u.URL, u.Headers, append(body, 'x')); status < 400 {
			t.Errorf("long body: status %d, want refusal", status)
		}
		if got, _ := e.Object("in/photo.jpg"); got != nil {
			t.Fatal("a refused upload stored an object")
		}
		// The right request stores the exact bytes with type and metadata.
		if status, _, msg := harness.Send(t, "PUT", u.URL, u.Headers, body); status != 200 {
			t.Fatalf("PUT: %d %s", status, msg)
		}
		got, head := e.Object("in/photo.jpg")
		if !bytes.Equal(got, body) {
			t.Fatalf("stored %d bytes, want the %d sent", len(got), len(body))
		}
		if aws.ToString(head.ContentType) != "image/jpeg" || head.Metadata["album"] != "summer-2026" {
			t.Errorf("stored type %q metadata %v", aws.ToString(head.ContentType), head.Metadata)
		}
		// Scope and action.
		alice := e.Token("alice", "users/alice/", 0, "upload")
		reader := e.Token("reader", "", 0, "download")
		for _, c := range []struct {
			tok, key string
			status   int
		}{
			{alice, "users/bob/x", 403}, {alice, "users/alice2/x", 403}, {alice, "users/alice/../bob/x", 400},
			{reader, "x", 403}, {alice, "users/alice/ok", 200},
		} {
			r := e.Call(c.tok, "POST", "/v1/uploads", map[string]any{"key": c.key, "size": 1})
			if r.Status != c.status {
				t.Errorf("upload %q: status %d, want %d", c.key, r.Status, c.status)
			}
		}
		for _, bad := range []map[string]any{
			{"key": "a"}, {"key": "a", "size": -1}, {"key": "a", "size": int64(6) << 40},
			{"key": "a", "size": 1, "content_type": "not a type"}, {"key": "a", "size": 1, "content_type": "text/plain\r\nX: y"},
			{"key": "a", "size": 1, "metadata": map[string]string{"Bad Name": "x"}}, {"key": "a", "size": 1, "metadata": map[string]string{"ok": "naïve"}},
			{"key": "a", "size": 1, "metadata": map[string]string{"big": strings.Repeat("x", 3000)}},
		} {
			r := e.Call(e.Admin, "POST", "/v1/uploads", bad)
			if r.Status != 400 && r.Status != 413 {
				t.Errorf("upload %v: status %d, want 400/413", bad, r.Status)
			}
		}
	})
}

// multipartEnv starts filegate with small thresholds so that an 11 MiB file
// is a 3-part multipart upload.
func multipartEnv(t *testing.T, storeName string) *harness.Env {
	return harness.Start(t, storeName, "--multipart-threshold", "1048576", "--part-size", "5242880")
}

func eachStoreMultipart(t *testing.T, fn func(t *testing.T, e *harness.Env)) {
	for _, name := range harness.Stores(t) {
		t.Run(name, func(t *testing.T) { fn(t, multipartEnv(t, name)) })
	}
}

func startMultipart(t *testing.T, e *harness.Env, tok, key string, body []byte) uploadResp {
	t.Helper()
	var u uploadResp
	r := e.Call(tok, "POST", "/v1/uploads", map[string]any{"key": key, "size": len(body), "content_type": "application/x-test"})
	harness.MustStatus(t, r, 201)
	r.JSON(t, &u)
	if u.Type != "multipart" || u.PartCount != 3 || u.PartSize != 5<<20 || len(u.Parts) != 3 {
		t.Fatalf("session = type %s, %d parts of %d, %d URLs; want multipart, 3 of 5 MiB", u.Type, u.PartCount, u.PartSize, len(u.Parts))
	}
	return u
}

func putPart(t *testing.T, p partURL, body []byte, partSize int64) donePart {
	t.Helper()
	from := int64(p.Number-1) * partSize
	chunk := body[from : from+p.Size]
	status, h, msg := harness.Send(t, "PUT", p.URL, nil, chunk)
	if status != 200 {
		t.Fatalf("part %d: %d %s", p.Number, status, msg)
	}
	return donePart{Number: p.Number, ETag: strings.Trim(h.Get("ETag"), `"`)}
}

func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	eachStoreMultipart(t, func(t *testing.T, e *harness.Env) {
		body := harness.RandomBytes(10<<20 + 1234)
		u := startMultipart(t, e, e.Admin, "big/file.bin", body)
		if u.Parts[2].Size != 1234+0 && u.Parts[2].Size != int64(len(body))-2*(5<<20) {
			t.Errorf("last part size %d", u.Parts[2].Size)
		}
		var done []donePart
		for _, p := range u.Parts {
			done = append(done, putPart(t, p, body, u.PartSize))
		}
		// Completing with a wrong etag or a missing part changes nothing.
		bad := append([]donePart{}, done...)
		bad[1].ETag = "0123456789abcdef0123456789abcdef"
		harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/uploads/"+u.UploadID+"/complete", map[string]any{"parts": bad}), 409)
		harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/uploads/"+u.UploadID+"/complete", map[string]any{"parts": done[:2]}), 400)
		if got, _ := e.Object("big/file.bin"); got != nil {
			t.Fatal("object exists after refused completions")
		}
		r := e.Call(e.Admin, "POST", "/v1/uploads/"+u.UploadID+"/complete", map[string]any{"parts": done})
		harness.MustStatus(t, r, 200)
		var info struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
		}
		r.JSON(t, &info)
		if info.Key != "big/file.bin" || info.Size != int64(len(body)) {
			t.Errorf("complete = %+v", info)
		}
		got, head := e.Object("big/file.bin")
		if !bytes.Equal(got, body) {
			t.Fatalf("assembled object differs: %d bytes, want %d", len(got), len(body))
		}
		if aws.ToString(head.ContentType) != "application/x-test" {
			t.Errorf("content type %q", aws.ToString(head.ContentType))
		}
		if n := e.UploadsInProgress(); n != 0 {
			t.Errorf("%d multipart uploads left", n)
		}
		// The finished session is gone.
		harness.MustStatus(t, e.Call(e.Admin, "GET", "/v1/uploads/"+u.UploadID, nil), 404)
		harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/uploads/"+u.UploadID+"/parts", map[string]any{"numbers": []int{1}}), 404)
	})
}

func TestMultipartResumeAcrossRestart(t *testing.T) {
	t.Parallel()
	eachStoreMultipart(t, func(t *testing.T, e *harness.Env) {
		body := harness.RandomBytes(11 << 20)
		u := startMultipart(t, e, e.Admin, "resume/file.bin", body)
		first := putPart(t, u.Parts[0], body, u.PartSize)

		e.Restart() // a crash or deploy between parts

		var st statusResp
		r := e.Call(e.Admin, "GET", "/v1/uploads/"+u.UploadID, nil)
		harness.MustStatus(t, r, 200)
		r.JSON(t, &st)
		if st.Key != "resume/file.bin" || st.PartCount != 3 || len(st.Parts) != 1 || st.Parts[0].Number != 1 || st.Parts[0].ETag != first.ETag {
			t.Fatalf("status after restart = %+v, want part 1 stored", st)
		}
		var more struct {
			Parts []partURL `json:"parts"`
		}
		r = e.Call(e.Admin, "POST", "/v1/uploads/"+u.UploadID+"/parts", map[string]any{"numbers": []int{2, 3}, "expires_in": 120})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &more)
		if len(more.Parts) != 2 || more.Parts[0].Number != 2 || more.Parts[1].Size != int64(len(body))-2*(5<<20) {
			t.Fatalf("signed parts = %+v", more.Parts)
		}
		done := []donePart{first}
		for _, p := range more.Parts {
			done = append(done, putPart(t, p, body, u.PartSize))
		}
		harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/uploads/"+u.UploadID+"/complete", map[string]any{"parts": done}), 200)
		if got, _ := e.Object("resume/file.bin"); !bytes.Equal(got, body) {
			t.Fatal("resumed object differs")
		}
		for _, nums := range []any{[]int{}, []int{0}, []int{4}, make([]int, 101)} {
			r := e.Call(e.Admin, "POST", "/v1/uploads/"+u.UploadID+"/parts", map[string]any{"numbers": nums})
			if r.Status != 400 && r.Status != 404 {
				t.Errorf("numbers %v: status %d", nums, r.Status)
			}
		}
	})
}

func TestMultipartAbortAndOwnership(t *testing.T) {
	t.Parallel()
	eachStoreMultipart(t, func(t *testing.T, e *harness.Env) {
		owner := e.Token("owner", "shared/", 0, "upload")
		other := e.Token("other", "shared/", 0, "upload", "list", "download")
		body := harness.RandomBytes(11 << 20)
		u := startMultipart(t, e, owner, "shared/f.bin", body)
		done := putPart(t, u.Parts[0], body, u.PartSize)

		// Another token with the same scope cannot touch the session.
		for _, c := range []struct{ method, path string }{
			{"GET", "/v1/uploads/" + u.UploadID},
			{"POST", "/v1/uploads/" + u.UploadID + "/parts"},
			{"POST", "/v1/uploads/" + u.UploadID + "/complete"},
			{"DELETE", "/v1/uploads/" + u.UploadID},
		} {
			var body any
			switch {
			case strings.HasSuffix(c.path, "/parts"):
				body = map[string]any{"numbers": []int{2}}
			case strings.HasSuffix(c.path, "/complete"):
				body = map[string]any{"parts": []donePart{done}}
			}
			r := e.Call(other, c.method, c.path, body)
			if r.Status != 403 {
				t.Errorf("other token %s %s: status %d, want 403", c.method, c.path, r.Status)
			}
		}
		// Forged, truncated and tampered ids are unknown.
		raw, _ := base64.RawURLEncoding.DecodeString(u.UploadID)
		raw[len(raw)/2] ^= 1
		for _, id := range []string{"x", base64.RawURLEncoding.EncodeToString(raw), u.UploadID[:len(u.UploadID)-4], strings.Repeat("A", 5000)} {
			r := e.Call(owner, "GET", "/v1/uploads/"+id, nil)
			if r.Status != 404 {
				t.Errorf("id %.20q: status %d, want 404", id, r.Status)
			}
		}
		if n := e.UploadsInProgress(); n != 1 {
			t.Fatalf("%d uploads in progress, want 1", n)
		}
		// Abort leaves nothing behind.
		r := e.Call(owner, "DELETE", "/v1/uploads/"+u.UploadID, nil)
		harness.MustStatus(t, r, 204)
		if n := e.UploadsInProgress(); n != 0 {
			t.Errorf("%d multipart uploads after abort, want 0", n)
		}
		if got, _ := e.Object("shared/f.bin"); got != nil {
			t.Error("an object exists after abort")
		}
		harness.MustStatus(t, e.Call(owner, "GET", "/v1/uploads/"+u.UploadID, nil), 404)
	})
}

type formResp struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Fields    map[string]string `json:"fields"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// postForm sends a browser-style multipart/form-data POST: the fields, then
// the file last, as browsers and S3 require.
func postForm(t *testing.T, f formResp, override map[string]string, contentType string, file []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := map[string]string{}
	for k, v := range f.Fields {
		fields[k] = v
	}
	for k, v := range override {
		fields[k] = v
	}
	if contentType != "" {
		fields["Content-Type"] = contentType
	}
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "upload.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	mw.Close()
	resp, err := http.Post(f.URL, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPostForm(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		alice := e.Token("alice", "users/alice/", 0, "upload")
		form := func(req map[string]any) formResp {
			t.Helper()
			var f formResp
			r := e.Call(alice, "POST", "/v1/forms", req)
			harness.MustStatus(t, r, 200)
			r.JSON(t, &f)
			return f
		}
		f := form(map[string]any{"key_prefix": "users/alice/uploads/", "content_type_prefix": "image/", "max_size": 1000,
			"server_side_encryption": "AES256", "metadata": map[string]string{"tag": "meme"}})
		if f.Method != "POST" || f.Fields["policy"] == "" || f.Fields["X-Amz-Signature"] == "" || f.Fields["x-amz-meta-tag"] != "meme" || f.Fields["x-amz-server-side-encryption"] != "AES256" {
			t.Fatalf("form fields = %v", f.Fields)
		}
		var policy struct {
			Conditions []any `json:"conditions"`
		}
		pj, _ := base64.StdEncoding.DecodeString(f.Fields["policy"])
		if err := json.Unmarshal(pj, &policy); err != nil {
			t.Fatal(err)
		}
		img := harness.RandomBytes(500)
		key := map[string]string{"key": "users/alice/uploads/cat.png"}

		refusals := []struct {
			name     string
			override map[string]string
			ct       string
			file     []byte
		}{
			{"too large", key, "image/png", harness.RandomBytes(1001)},
			{"wrong type", key, "text/html", img},
			{"key outside the prefix", map[string]string{"key": "users/bob/cat.png"}, "image/png", img},
			{"tampered policy", map[string]string{"key": "users/alice/uploads/cat.png", "policy": base64.StdEncoding.EncodeToString(bytes.Replace(pj, []byte("1000"), []byte("9999"), 1))}, "image/png", img},
			{"metadata changed", map[string]string{"key": "users/alice/uploads/cat.png", "x-amz-meta-tag": "other"}, "image/png", img},
		}
		for _, c := range refusals {
			status, msg := postForm(t, f, c.override, c.ct, c.file)
			if status < 400 {
				t.Errorf("%s: status %d, want refusal (%s)", c.name, status, msg)
			}
		}
		out, err := e.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &e.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 0 {
			t.Fatalf("refused forms stored %d objects", len(out.Contents))
		}
		status, msg := postForm(t, f, key, "image/png", img)
		if status != 204 && status != 200 && status != 201 {
			t.Fatalf("valid form post: %d %s", status, msg)
		}
		got, head := e.Object("users/alice/uploads/cat.png")
		if !bytes.Equal(got, img) || head.Metadata["tag"] != "meme" || aws.ToString(head.ContentType) != "image/png" {
			t.Errorf("stored %d bytes, metadata %v, type %q", len(got), head.Metadata, aws.ToString(head.ContentType))
		}

		// Exact key; expired policy.
		exact := form(map[string]any{"key": "users/alice/exact.txt", "expires_in": 1})
		if exact.Fields["key"] != "users/alice/exact.txt" {
			t.Errorf("exact form key field %q", exact.Fields["key"])
		}
		time.Sleep(2100 * time.Millisecond)
		if status, _ := postForm(t, exact, nil, "", []byte("late")); status < 400 {
			t.Errorf("expired policy: status %d, want refusal", status)
		}
		if got, _ := e.Object("users/alice/exact.txt"); got != nil {
			t.Error("expired policy stored an object")
		}

		// Scope and validation of the request itself.
		for _, bad := range []struct {
			req    map[string]any
			status int
		}{
			{map[string]any{"key_prefix": "users/bob/"}, 403},
			{map[string]any{"key_prefix": "users/"}, 403},
			{map[string]any{"key": "users/alice/../bob/x"}, 400},
			{map[string]any{}, 400},
			{map[string]any{"key": "users/alice/a", "key_prefix": "users/alice/"}, 400},
			{map[string]any{"key": "users/alice/a", "max_size": int64(6) << 30}, 413},
			{map[string]any{"key": "users/alice/a", "min_size": 10, "max_size": 5}, 400},
			{map[string]any{"key": "users/alice/a", "server_side_encryption": "rot13"}, 400},
		} {
			r := e.Call(alice, "POST", "/v1/forms", bad.req)
			if r.Status != bad.status {
				t.Errorf("form %v: status %d, want %d", bad.req, r.Status, bad.status)
			}
		}
	})
}
