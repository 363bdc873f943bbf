// Package web serves filegate's web app: static files embedded in the
// binary (no build step), with Uppy 5.2.4 vendored under static/vendor/uppy
// (see its VERSION file for how to update it). The app talks to /v1 with
// the bearer token it keeps in sessionStorage, and Uppy talks to /s3 (package
// companion) with the session cookie that sign-in sets.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"golang.org/x/image/font/gofont/gobold"
)

//go:embed static
var static embed.FS

// Config is what the pages need to know about their surroundings.
type Config struct {
	// StoreOrigins are the origins grants point at (the store's public
	// endpoint, a CloudFront domain): the page uploads to them and shows
	// images from them, so its Content-Security-Policy allows them.
	StoreOrigins []string
}

// Handler serves GET / (the app) and GET /app/... (its assets).
type Handler struct {
	files fs.FS
	etags map[string]string
	csp   string
}

// New returns the web app's handler.
func New(cfg Config) (*Handler, error) {
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	h := &Handler{files: files, etags: map[string]string{}}
	err = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h.etags[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	if err != nil {
		return nil, err
	}
	stores := strings.Join(cfg.StoreOrigins, " ")
	// Uppy sets inline style attributes, hence 'unsafe-inline' for styles
	// only; scripts come from this origin alone.
	h.csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data: blob: " + stores + "; connect-src 'self' " + stores + "; " +
		"font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
	return h, nil
}

// Paths are the URL paths h serves, each one exact (so that they never
// overlap other routes, such as the seed routes' /{stage}/list).
func (h *Handler) Paths() []string {
	out := []string{"/", "/app/font/gobold.ttf"}
	for name := range h.etags {
		if name != "index.html" {
			out = append(out, "/app/"+name)
		}
	}
	return out
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.URL.Path == "/" {
		hd.Set("Content-Security-Policy", h.csp)
		h.file(w, r, "index.html")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/app/")
	if name == "font/gobold.ttf" {
		hd.Set("Content-Type", "font/ttf")
		hd.Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(gobold.TTF)
		return
	}
	h.file(w, r, name)
}

var types = map[string]string{
	".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
}

func (h *Handler) file(w http.ResponseWriter, r *http.Request, name string) {
	etag, ok := h.etags[name]
	ct, known := types[path.Ext(name)]
	if !ok || !known {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Not Found","status":404,"code":"not_found","detail":"no such file"}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache") // revalidated by ETag: a new build is seen at once
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b, _ := fs.ReadFile(h.files, name)
	_, _ = w.Write(b)
}
