// Package storetest is the conformance suite of filegate.Bucket: one set of
// tests every adapter runs (memstore, and package store against the
// embedded store and MinIO), so that services tested on one behave the same
// on the others. Where a real store differs, the difference is written in
// Deviations and the suite checks that exact difference, never skips.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate"
)

// Deviations are the documented ways a store differs from Amazon S3 in what
// the suite checks.
type Deviations struct {
	// AbortMissingIsOK: aborting an upload that does not exist succeeds
	// instead of answering NoSuchUpload.
	AbortMissingIsOK bool
	// EmptyLastPage: a listing may end with an empty page after a full one.
	EmptyLastPage bool
}

// Run runs the suite on b, which must be empty.
func Run(t *testing.T, b filegate.Bucket, dev Deviations) {
	t.Run("ObjectRoundTrip", func(t *testing.T) { objectRoundTrip(t, b) })
	t.Run("NotFound", func(t *testing.T) { notFound(t, b) })
	t.Run("ListingFoldersAndPages", func(t *testing.T) { listing(t, b, dev) })
	t.Run("SpecialCharacterKeys", func(t *testing.T) { specialKeys(t, b) })
	t.Run("Multipart", func(t *testing.T) { multipart(t, b, dev) })
	t.Run("MultipartRefusals", func(t *testing.T) { multipartRefusals(t, b) })
	t.Run("Grants", func(t *testing.T) { grants(t, b) })
	if sp, ok := b.(filegate.StreamPutter); ok {
		t.Run("PutStream", func(t *testing.T) { putStream(t, b, sp) })
	}
}

func ctx() context.Context { return context.Background() }

func objectRoundTrip(t *testing.T, b filegate.Bucket) {
	for _, body := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("filegate "), 10000)} {
		key := fmt.Sprintf("rt/%d.bin", len(body))
		if err := b.Put(ctx(), key, "application/x-test", body); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
		h, err := b.Head(ctx(), key)
		if err != nil || h.Size != int64(len(body)) || h.ETag == "" || h.Key != key || h.LastModified.IsZero() {
			t.Errorf("Head %s = %+v, %v", key, h, err)
		}
		if h.ContentType != "application/x-test" {
			t.Errorf("Head %s content type %q", key, h.ContentType)
		}
		rc, g, err := b.Get(ctx(), key)
		if err != nil {
			t.Fatalf("Get %s: %v", key, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) || g.ETag != h.ETag || g.Size != h.Size {
			t.Errorf("Get %s: %d bytes, etag %q (head %q), %v", key, len(got), g.ETag, h.ETag, err)
		}
	}
	// Put replaces.
	if err := b.Put(ctx(), "rt/1.bin", "text/plain", []byte("yz")); err != nil {
		t.Fatal(err)
	}
	if h, _ := b.Head(ctx(), "rt/1.bin"); h.Size != 2 {
		t.Errorf("after replacing, size %d", h.Size)
	}
}

func notFound(t *testing.T, b filegate.Bucket) {
	if _, err := b.Head(ctx(), "missing/key"); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("Head of a missing key: %v, want NotFound", err)
	}
	if rc, _, err := b.Get(ctx(), "missing/key"); filegate.KindOf(err) != filegate.NotFound {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Get of a missing key: %v, want NotFound", err)
	}
	if _, err := b.ListParts(ctx(), "missing/key", "no-such-upload"); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("ListParts of a missing upload: %v, want NotFound", err)
	}
	page, err := b.List(ctx(), filegate.ListInput{Prefix: "missing/"})
	if err != nil || len(page.Objects) != 0 || len(page.Folders) != 0 || page.Next != "" {
		t.Errorf("List of an empty prefix: %+v, %v", page, err)
	}
}

// listAll follows a listing's pages.
func listAll(t *testing.T, b filegate.Bucket, in filegate.ListInput, dev Deviations) (keys, folders []string, pages int) {
	t.Helper()
	for pages = 1; pages < 100; pages++ {
		p, err := b.List(ctx(), in)
		if err != nil {
			t.Fatalf("List %+v: %v", in, err)
		}
		if int32(len(p.Objects)+len(p.Folders)) > in.Limit && in.Limit > 0 {
			t.Errorf("a page of limit %d holds %d entries", in.Limit, len(p.Objects)+len(p.Folders))
		}
		if len(p.Objects)+len(p.Folders) == 0 && p.Next == "" && pages > 1 && !dev.EmptyLastPage {
			t.Errorf("an empty last page")
		}
		for _, o := range p.Objects {
			keys = append(keys, o.Key)
		}
		folders = append(folders, p.Folders...)
		if p.Next == "" {
			return keys, folders, pages
		}
		in.Token = p.Next
	}
	t.Fatal("listing did not end")
	return
}

func listing(t *testing.T, b filegate.Bucket, dev Deviations) {
	want := []string{"ls/a.txt", "ls/b.txt", "ls/c/1.txt", "ls/c/2.txt", "ls/d/x/y.txt", "ls/e.txt", "lsx.txt"}
	for _, k := range want {
		if err := b.Put(ctx(), k, "", []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	keys, folders, _ := listAll(t, b, filegate.ListInput{Prefix: "ls/", Delimiter: "/"}, dev)
	if !slices.Equal(keys, []string{"ls/a.txt", "ls/b.txt", "ls/e.txt"}) || !slices.Equal(folders, []string{"ls/c/", "ls/d/"}) {
		t.Errorf("ls/ with delimiter: keys %q folders %q", keys, folders)
	}
	keys, folders, pages := listAll(t, b, filegate.ListInput{Prefix: "ls/", Delimiter: "/", Limit: 2}, dev)
	if !slices.Equal(keys, []string{"ls/a.txt", "ls/b.txt", "ls/e.txt"}) || !slices.Equal(folders, []string{"ls/c/", "ls/d/"}) || pages < 3 {
		t.Errorf("ls/ with delimiter, 2 a page: keys %q folders %q in %d pages", keys, folders, pages)
	}
	keys, _, pages = listAll(t, b, filegate.ListInput{Prefix: "ls", Limit: 3}, dev)
	if !slices.Equal(keys, want) || pages < 3 {
		t.Errorf("ls, 3 a page: %q in %d pages", keys, pages)
	}
	keys, _, _ = listAll(t, b, filegate.ListInput{Prefix: "ls/c/"}, dev)
	if !slices.Equal(keys, []string{"ls/c/1.txt", "ls/c/2.txt"}) {
		t.Errorf("ls/c/: %q", keys)
	}
}

func specialKeys(t *testing.T, b filegate.Bucket) {
	keys := []string{"sp/a b.txt", "sp/plus+sign.txt", "sp/percent%20.txt", "sp/ünïcødé 東京.txt", "sp/q?mark&amp=1.txt", "sp/tilde~ (1).txt", "sp/a'b\"c.txt"}
	for _, k := range keys {
		if err := b.Put(ctx(), k, "", []byte(k)); err != nil {
			t.Fatalf("Put %q: %v", k, err)
		}
	}
	got, _, _ := listAll(t, b, filegate.ListInput{Prefix: "sp/"}, Deviations{EmptyLastPage: true})
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("listing special keys: %q, want %q", got, want)
	}
	for _, k := range keys {
		rc, _, err := b.Get(ctx(), k)
		if err != nil {
			t.Errorf("Get %q: %v", k, err)
			continue
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if string(body) != k {
			t.Errorf("Get %q = %q", k, body)
		}
	}
}

func multipart(t *testing.T, b filegate.Bucket, dev Deviations) {
	key := "mp/big.bin"
	id, err := b.CreateUpload(ctx(), key, "application/x-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	p1 := bytes.Repeat([]byte{1}, 5<<20)
	p2 := []byte("tail")
	// Out of order, and part 2 sent twice: the last one counts.
	if _, err := b.UploadPart(ctx(), key, id, 2, []byte("stale")); err != nil {
		t.Fatal(err)
	}
	e2, err := b.UploadPart(ctx(), key, id, 2, p2)
	if err != nil {
		t.Fatal(err)
	}
	e1, err := b.UploadPart(ctx(), key, id, 1, p1)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := b.ListParts(ctx(), key, id)
	if err != nil || len(parts) != 2 || parts[0].Number != 1 || parts[1].Number != 2 ||
		parts[0].ETag != strings.Trim(e1, `"`) || parts[1].ETag != strings.Trim(e2, `"`) || parts[0].Size != int64(len(p1)) || parts[1].Size != 4 {
		t.Fatalf("ListParts = %+v, %v", parts, err)
	}
	for _, prefix := range []string{"mp/", "", key} {
		ups, err := b.ListUploads(ctx(), prefix)
		if err != nil || len(ups) != 1 || ups[0].Key != key || ups[0].ID != id || time.Since(ups[0].Initiated) > time.Hour {
			t.Errorf("ListUploads(%q) = %+v, %v", prefix, ups, err)
		}
	}
	info, err := b.CompleteUpload(ctx(), key, id, parts)
	if err != nil || info.Size != int64(len(p1)+len(p2)) {
		t.Fatalf("CompleteUpload = %+v, %v", info, err)
	}
	if h, err := b.Head(ctx(), key); err != nil || h.ETag != info.ETag || h.Size != info.Size {
		t.Errorf("CompleteUpload answered %+v; Head %+v, %v", info, h, err)
	}
	rc, _, err := b.Get(ctx(), key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, append(p1, p2...)) {
		t.Error("the completed object is not its parts in order")
	}
	if _, err := b.ListParts(ctx(), key, id); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("ListParts after complete: %v, want NotFound", err)
	}
	// Abort.
	id2, err := b.CreateUpload(ctx(), "mp/aborted.bin", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.UploadPart(ctx(), "mp/aborted.bin", id2, 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.AbortUpload(ctx(), "mp/aborted.bin", id2); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	if _, err := b.ListParts(ctx(), "mp/aborted.bin", id2); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("ListParts after abort: %v, want NotFound", err)
	}
	err = b.AbortUpload(ctx(), "mp/aborted.bin", id2)
	if dev.AbortMissingIsOK {
		if err != nil {
			t.Errorf("second abort: %v (this store's documented deviation is success)", err)
		}
	} else if filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("second abort: %v, want NotFound", err)
	}
	if _, err := b.Head(ctx(), "mp/aborted.bin"); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("an aborted upload left an object: %v", err)
	}
	if ups, _ := b.ListUploads(ctx(), "mp/"); len(ups) != 0 {
		t.Errorf("uploads left: %+v", ups)
	}
}

func multipartRefusals(t *testing.T, b filegate.Bucket) {
	key := "mpr/x.bin"
	id, err := b.CreateUpload(ctx(), key, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.AbortUpload(ctx(), key, id)
	e1, err := b.UploadPart(ctx(), key, id, 1, []byte("small"))
	if err != nil {
		t.Fatal(err)
	}
	e2, err := b.UploadPart(ctx(), key, id, 2, []byte("last"))
	if err != nil {
		t.Fatal(err)
	}
	for name, parts := range map[string][]filegate.Part{
		"a part but the last under 5 MiB": {{Number: 1, ETag: e1}, {Number: 2, ETag: e2}},
		"a wrong etag":                    {{Number: 1, ETag: "0123456789abcdef0123456789abcdef"}},
		"a part never uploaded":           {{Number: 3, ETag: e2}},
	} {
		if _, err := b.CompleteUpload(ctx(), key, id, parts); err == nil {
			t.Errorf("complete with %s succeeded", name)
		} else if k := filegate.KindOf(err); k != filegate.Invalid && k != filegate.Conflict && k != filegate.NotFound {
			t.Errorf("complete with %s: kind %v (%v), want invalid or conflict", name, k, err)
		}
	}
	if _, err := b.Head(ctx(), key); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("a refused complete left an object: %v", err)
	}
	if _, err := b.ListParts(ctx(), key, id); err != nil {
		t.Errorf("a refused complete ended the upload: %v", err)
	}
}

func grants(t *testing.T, b filegate.Bucket) {
	for name, g := range map[string]func() (filegate.Grant, error){
		"get": func() (filegate.Grant, error) {
			return b.PresignGet(ctx(), "g/x", filegate.GetOptions{Expires: time.Minute})
		},
		"put": func() (filegate.Grant, error) {
			return b.PresignPut(ctx(), "g/x", filegate.PutOptions{Expires: time.Minute, ContentLength: 3})
		},
		"part": func() (filegate.Grant, error) { return b.PresignPart(ctx(), "g/x", "id", 1, 5<<20, time.Minute) },
	} {
		gr, err := g()
		if err != nil || gr.URL == "" || !strings.Contains(gr.URL, "g/x") || time.Until(gr.Expires) > time.Minute+time.Second || time.Until(gr.Expires) < 50*time.Second {
			t.Errorf("%s grant = %+v, %v", name, gr, err)
		}
	}
	p, err := b.PresignPost(ctx(), filegate.PostOptions{KeyPrefix: "g/", Expires: time.Minute, MaxSize: 10})
	if err != nil || p.URL == "" || p.Fields["key"] == "" {
		t.Errorf("post = %+v, %v", p, err)
	}
	if _, err := b.CredentialsExpiry(ctx()); err != nil {
		t.Errorf("CredentialsExpiry: %v", err)
	}
}

// putStream checks that a streamed PUT stores exactly the declared bytes,
// and nothing at all (an object already there left as it was) when the
// body is short, long or fails, even after all its bytes were read.
func putStream(t *testing.T, b filegate.Bucket, sp filegate.StreamPutter) {
	for _, body := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("filegate "), 150000)} {
		key := fmt.Sprintf("ps/%d.bin", len(body))
		// A pipe written in small pieces, as a bundle's writer does.
		pr, pw := io.Pipe()
		go func() {
			for rest := body; len(rest) > 0; {
				n := min(len(rest), 1000)
				if _, err := pw.Write(rest[:n]); err != nil {
					return
				}
				rest = rest[n:]
			}
			pw.Close()
		}()
		info, err := sp.PutStream(ctx(), key, "application/zip", int64(len(body)), pr)
		if err != nil || info.Key != key || info.Size != int64(len(body)) || info.ETag == "" {
			t.Fatalf("PutStream %s = %+v, %v", key, info, err)
		}
		h, err := b.Head(ctx(), key)
		if err != nil || h.Size != int64(len(body)) || h.ETag != info.ETag || h.ContentType != "application/zip" {
			t.Errorf("Head %s = %+v, %v; PutStream answered %+v", key, h, err, info)
		}
		rc, _, err := b.Get(ctx(), key)
		if err != nil {
			t.Fatalf("Get %s: %v", key, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("Get %s: %d bytes, %v; want %d", key, len(got), err, len(body))
		}
	}

	if err := b.Put(ctx(), "ps/kept", "text/plain", []byte("before")); err != nil {
		t.Fatal(err)
	}
	failing := []struct {
		name string
		size int64
		body func(w *io.PipeWriter)
	}{
		{"short", 5000, func(w *io.PipeWriter) { w.Write(make([]byte, 4999)); w.Close() }},
		{"long", 5000, func(w *io.PipeWriter) { w.Write(make([]byte, 5001)); w.Close() }},
		{"failing midway", 5000, func(w *io.PipeWriter) { w.Write(make([]byte, 2000)); w.CloseWithError(errors.New("writer failed")) }},
		// Every declared byte is read, and only then the writer fails: the
		// store must not have taken the object meanwhile.
		{"failing after its last byte", 5000, func(w *io.PipeWriter) {
			w.Write(make([]byte, 5000))
			time.Sleep(200 * time.Millisecond)
			w.CloseWithError(errors.New("writer failed"))
		}},
	}
	for _, f := range failing {
		for _, key := range []string{"ps/new-" + strings.ReplaceAll(f.name, " ", "-"), "ps/kept"} {
			pr, pw := io.Pipe()
			go f.body(pw)
			_, err := sp.PutStream(ctx(), key, "application/zip", f.size, pr)
			pr.CloseWithError(errors.New("done")) // ends a writer still waiting
			if err == nil {
				t.Errorf("PutStream %s, %s body: no error", key, f.name)
			}
			h, herr := b.Head(ctx(), key)
			switch {
			case key == "ps/kept" && (herr != nil || h.Size != int64(len("before"))):
				t.Errorf("after a %s PutStream the object there is %+v, %v; want it left as it was", f.name, h, herr)
			case key != "ps/kept" && filegate.KindOf(herr) != filegate.NotFound:
				t.Errorf("after a %s PutStream, Head %s = %+v, %v; want NotFound", f.name, key, h, herr)
			}
		}
	}
}
