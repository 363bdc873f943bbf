package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/browse"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/telemetry"
	"github.com/filegate/filegate/upload"
)

func handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func handleReady(ready func(context.Context) error, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeError(w, r, log, filegate.NewError(filegate.Unavailable, "api.ready", "", "the store does not answer").Wrap(err))
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

func handleOpenAPI(spec []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(spec)
	})
}

type objectJSON struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag"`
	LastModified time.Time `json:"last_modified"`
}

type listJSON struct {
	Objects []objectJSON `json:"objects"`
	Folders []string     `json:"folders"`
	Cursor  string       `json:"cursor,omitempty"`
}

func handleList(b *browse.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := query(r.URL, "prefix", "delimiter", "cursor", "limit")
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		req := browse.Request{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), Cursor: q.Get("cursor")}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				writeError(w, r, log, filegate.NewError(filegate.Invalid, "api.list", "invalid_limit", "limit must be between 1 and 1000"))
				return
			}
			req.Limit = n
		}
		page, err := b.List(r.Context(), Principal(r.Context()), req)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := listJSON{Objects: make([]objectJSON, len(page.Objects)), Folders: page.Folders, Cursor: page.Cursor}
		for i, o := range page.Objects {
			out.Objects[i] = objectJSON{Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified.UTC()}
		}
		WriteJSON(w, http.StatusOK, out)
	})
}

// query returns the URL's query after checking that every parameter is one
// of the allowed names and appears at most once.
func query(u *url.URL, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, filegate.NewError(filegate.Invalid, "api.query", "invalid_query", "the query string is malformed")
	}
next:
	for name, vals := range q {
		for _, a := range allowed {
			if name == a {
				if len(vals) > 1 {
					return nil, filegate.NewError(filegate.Invalid, "api.query", "invalid_query", "query parameter "+strconv.Quote(name)+" is repeated")
				}
				continue next
			}
		}
		return nil, filegate.NewError(filegate.Invalid, "api.query", "invalid_query", "unknown query parameter "+strconv.Quote(name))
	}
	return q, nil
}

type downloadRequestJSON struct {
	Key         string `json:"key"`
	ExpiresIn   expiry `json:"expires_in,omitzero"`
	Filename    string `json:"filename,omitempty"`
	Disposition string `json:"disposition,omitempty"`
	// Check, when false, skips the existence check (no HEAD to the store).
	Check *bool `json:"check,omitempty"`
	// Via picks the grant: "s3" or "cloudfront" ("": the server's default).
	Via       string    `json:"via,omitempty"`
	SourceIP  string    `json:"source_ip,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
}

type downloadJSON struct {
	URL       string    `json:"url"`
	Method    string    `json:"method"`
	ExpiresAt time.Time `json:"expires_at"`
	Size      *int64    `json:"size,omitempty"`
	ETag      string    `json:"etag,omitempty"`
}

func expiresIn(op string, secs *int64) (time.Duration, error) {
	if secs == nil {
		return 0, nil
	}
	if *secs < 1 || *secs > int64(grant.MaxExpiry/time.Second) {
		return 0, filegate.NewError(filegate.Invalid, op, "invalid_expiry", "expires_in must be between 1 and 604800 seconds")
	}
	return time.Duration(*secs) * time.Second, nil
}

func handleDownload(g *grant.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in downloadRequestJSON
		if err := decode(w, r, &in); err != nil {
			writeError(w, r, log, err)
			return
		}
		d, err := g.Download(r.Context(), Principal(r.Context()), grant.DownloadRequest{
			Key: in.Key, ExpiresIn: in.ExpiresIn.d, Filename: in.Filename, Disposition: in.Disposition,
			SkipCheck: in.Check != nil && !*in.Check,
			Via:       in.Via, SourceIP: in.SourceIP, NotBefore: in.NotBefore,
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		m.Grants.WithLabelValues("download").Inc()
		out := downloadJSON{URL: d.URL, Method: d.Method, ExpiresAt: d.ExpiresAt.UTC(), ETag: d.ETag}
		if in.Check == nil || *in.Check {
			out.Size = &d.Size
		}
		writeDownload(w, http.StatusOK, out)
	})
}

// handleObjectRedirect answers GET /v1/objects/{key} with a 302 to a
// download grant, for browsers and curl -L.
func handleObjectRedirect(g *grant.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const op = "api.objectRedirect"
		q, err := query(r.URL, "filename", "disposition", "expires_in")
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		var secs *int64
		if s := q.Get("expires_in"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				writeError(w, r, log, filegate.NewError(filegate.Invalid, op, "invalid_expiry", "expires_in must be a whole number of seconds"))
				return
			}
			secs = &n
		}
		exp, err := expiresIn(op, secs)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		d, err := g.Download(r.Context(), Principal(r.Context()), grant.DownloadRequest{
			Key: r.PathValue("key"), ExpiresIn: exp, Filename: q.Get("filename"), Disposition: q.Get("disposition"),
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		m.Grants.WithLabelValues("download").Inc()
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, d.URL, http.StatusFound)
	})
}

func invalid(op, code, msg string) error {
	return filegate.NewError(filegate.Invalid, op, code, msg)
}

type whoamiJSON struct {
	Name      string            `json:"name"`
	Actions   []filegate.Action `json:"actions"`
	Prefix    string            `json:"prefix"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
	MaxSize   int64             `json:"max_size,omitempty"`
	// UploadLimit is the largest object the token may upload (the server's
	// limit lowered by the token's own); absent without the upload action.
	UploadLimit int64 `json:"upload_limit,omitempty"`
}

// handleWhoami describes the calling token (never its secret or id).
func handleWhoami(u *upload.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := Principal(r.Context())
		out := whoamiJSON{Name: p.Name, Actions: p.Actions, Prefix: p.Prefix, MaxSize: p.MaxSize}
		if p.Can(filegate.ActUpload) {
			out.UploadLimit = u.Limit(p)
		}
		if out.Actions == nil {
			out.Actions = []filegate.Action{}
		}
		if !p.Expires.IsZero() {
			t := p.Expires.UTC()
			out.ExpiresAt = &t
		}
		WriteJSON(w, http.StatusOK, out)
	})
}
