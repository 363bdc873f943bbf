// Package compat serves the seed systems' own request and response shapes
// (../shared/seeds) as adapters over filegate's services, so that a team
// moving off those Lambdas changes a URL, not a client. It depends on the
// services and on package api's exported helpers (authentication, the
// principal, JSON), never on the middleware's internals.
package compat

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/api"
	"github.com/filegate/filegate/browse"
	"github.com/filegate/filegate/bundle"
	"github.com/filegate/filegate/caption"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/upload"
)

// Services are the services the seed routes adapt.
type Services struct {
	Browse   *browse.Service
	Grants   *grant.Service
	Uploads  *upload.Service
	Bundles  *bundle.Service
	Captions *caption.Service
}

// Routes is the seed routes, as an api.Extension.
type Routes struct {
	s   Services
	log *slog.Logger
}

// New returns the seed routes over s.
func New(s Services, log *slog.Logger) *Routes { return &Routes{s: s, log: log} }

var _ api.Extension = (*Routes)(nil)

// Register adds every seed route; each needs a bearer token with the same
// actions and scope as its native counterpart.
func (c *Routes) Register(mux *http.ServeMux, auth api.Auth) {
	d, log, authed := c.s, c.log, auth.Bearer

	// 000 lambda-zipper.
	zip := authed(handleCompatZip(d.Bundles, log))
	mux.Handle("POST /{$}", zip)
	mux.Handle("POST /zip", zip)

	// 001 API Gateway download, also under a stage prefix such as /dev/.
	list := compatCORS(authed(handleCompatList(d.Browse, log)))
	dl := compatCORS(authed(handleCompatDownload(d.Grants, log)))
	mux.Handle("GET /list", list)
	mux.Handle("GET /download", dl)
	mux.Handle("GET /{stage}/list", list)
	mux.Handle("GET /{stage}/download", dl)

	// 002 serverless meme app.
	mux.Handle("GET /sign-s3-request", compatCORS(authed(handleCompatSign(d.Uploads, log))))
	mux.Handle("POST /meme", compatCORS(authed(handleCompatMeme(d.Captions, log))))

	// 003 presigned POST, 004 download URL.
	mux.Handle("POST /presigned-post", compatCORS(authed(handleCompatPresignedPost(d.Uploads, log))))
	mux.Handle("POST /download-url", compatCORS(authed(handleCompatDownloadURL(d.Grants, log))))

	// Browsers preflight the routes above (they send Authorization).
	preflight := compatCORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, p := range []string{"/{$}", "/zip", "/list", "/download", "/{stage}/list", "/{stage}/download", "/sign-s3-request", "/meme", "/presigned-post", "/download-url"} {
		mux.Handle("OPTIONS "+p, preflight)
	}
}

// NotFound answers unknown routes outside /v1/ as the seeds' API Gateway did.
func (c *Routes) NotFound(w http.ResponseWriter, r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		return false
	}
	api.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "Resource name is incorrect."})
	return true
}

// compatCORS answers as the seeds' API Gateway did: any origin.
func compatCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		next.ServeHTTP(w, r)
	})
}

// compatJSONError answers {"error": msg}, the seeds' error shape. Internal
// errors are logged and shown as a generic message.
func compatJSONError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, status int, msg string) {
	if status == 0 {
		status, msg = compatStatus(err)
	}
	if status >= 500 {
		log.ErrorContext(r.Context(), "compat request failed", "path", r.URL.Path, "err", err.Error())
	}
	api.WriteJSON(w, status, map[string]string{"error": msg})
}

func compatStatus(err error) (int, string) {
	var fe *filegate.Error
	if !errors.As(err, &fe) {
		return http.StatusInternalServerError, "Internal error."
	}
	status := api.StatusOf(fe.Kind)
	if status == 0 || fe.Kind == filegate.Internal {
		return http.StatusInternalServerError, "Internal error."
	}
	if fe.Msg != "" {
		return status, fe.Msg
	}
	return status, http.StatusText(status)
}

// 000: {"Images":[{"Name":"cyndaquil.jpg"}]} → text/plain link.
func handleCompatZip(b *bundle.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain := func(status int, msg string) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			fmt.Fprintln(w, msg)
		}
		var in struct {
			Images []struct {
				Name string `json:"Name"`
			} `json:"Images"`
		}
		if err := api.DecodeJSON(http.MaxBytesReader(w, r.Body, api.MaxBody), &in); err != nil || len(in.Images) == 0 {
			plain(http.StatusBadRequest, `Send a JSON body like {"Images":[{"Name":"cyndaquil.jpg"}]}.`)
			return
		}
		keys := make([]string, len(in.Images))
		for i, img := range in.Images {
			keys[i] = img.Name
		}
		plan, err := b.Prepare(r.Context(), api.Principal(r.Context()), bundle.Request{Keys: keys, Name: randomName(9), ExpiresIn: 90 * time.Second})
		if err == nil {
			var res bundle.Result
			res, err = b.Create(r.Context(), plan, nil)
			if err == nil {
				plain(http.StatusOK, fmt.Sprintf("Download your ZIP file (expires in %ds): %s", int(math.Ceil(time.Until(res.ExpiresAt).Seconds())), res.URL))
				return
			}
		}
		status, msg := compatStatus(err)
		if status >= 500 {
			log.ErrorContext(r.Context(), "compat zip failed", "err", err.Error())
		}
		plain(status, "Error: "+msg)
	})
}

func randomName(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// 001: GET /list → {"objects":[{"File":"key"}]}, every page followed.
func handleCompatList(b *browse.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		type file struct {
			File string `json:"File"`
		}
		out := struct {
			Objects []file `json:"objects"`
		}{Objects: []file{}}
		cursor := ""
		for {
			page, err := b.List(r.Context(), api.Principal(r.Context()), browse.Request{Cursor: cursor})
			if err != nil {
				compatJSONError(w, r, log, err, 0, "")
				return
			}
			for _, o := range page.Objects {
				out.Objects = append(out.Objects, file{o.Key})
			}
			if page.Cursor == "" {
				break
			}
			cursor = page.Cursor
		}
		api.WriteJSON(w, http.StatusOK, out)
	})
}

// 001: GET /download?objectKey=key → {"url": ...} for 900 s, with the
// seed's exact error bodies.
func handleCompatDownload(g *grant.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if len(q) == 0 {
			compatJSONError(w, r, log, nil, http.StatusBadRequest, "Request is incorrect. Please provide valid query parameters.")
			return
		}
		key := q.Get("objectKey")
		if key == "" {
			compatJSONError(w, r, log, nil, http.StatusBadRequest, "objectKey is required.")
			return
		}
		d, err := g.Download(r.Context(), api.Principal(r.Context()), grant.DownloadRequest{Key: key, ExpiresIn: 900 * time.Second})
		if filegate.KindOf(err) == filegate.NotFound {
			compatJSONError(w, r, log, err, http.StatusNotFound, "Object name is incorrect or object doesn't exist.")
			return
		}
		if err != nil {
			compatJSONError(w, r, log, err, 0, "")
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"url": d.URL})
	})
}

// 002: GET /sign-s3-request?filename=name → {"policy": {...}} with the
// seed's field names, for its browser form. The form sends exactly key,
// acl, Content-Type, policy, the four x-amz-* signing fields,
// x-amz-server-side-encryption and the file, so the policy has a condition
// for each of those and for nothing else: a condition on a field the form
// does not send (the seed policy's x-amz-meta-tag) fails on S3 too.
func handleCompatSign(u *upload.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("filename")
		if name == "" || strings.ContainsAny(name, "/\\") {
			compatJSONError(w, r, log, nil, http.StatusBadRequest, "filename is required (a file name, no slashes).")
			return
		}
		post, err := u.Form(r.Context(), api.Principal(r.Context()), upload.FormRequest{
			Key: "static/" + name, ContentTypePrefix: "image/", SSE: "AES256", ACL: "private",
		})
		if err != nil {
			compatJSONError(w, r, log, err, 0, "")
			return
		}
		f := post.Fields
		api.WriteJSON(w, http.StatusOK, map[string]any{"policy": map[string]string{
			"url": post.URL, "key": f["key"], "acl": f["acl"], "base64Policy": f["policy"],
			"x-amz-credential": f["X-Amz-Credential"], "x-amz-algorithm": f["X-Amz-Algorithm"], "x-amz-date": f["X-Amz-Date"],
			"x-amz-signature": f["X-Amz-Signature"], "signature": f["X-Amz-Signature"],
		}})
	})
}

// 002: POST /meme {image, bucket_address, posx, posy, scale, caption} →
// {meme_data, meme_type}: the captioned image, base64-encoded.
func handleCompatMeme(c *caption.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Image         string `json:"image"`
			BucketAddress string `json:"bucket_address"`
			PosX          uint32 `json:"posx"`
			PosY          uint32 `json:"posy"`
			Scale         uint32 `json:"scale"`
			Caption       string `json:"caption"`
		}
		if err := api.DecodeJSON(http.MaxBytesReader(w, r.Body, api.MaxBody), &in); err != nil {
			compatJSONError(w, r, log, err, 0, "")
			return
		}
		req := caption.Request{Key: in.Image, Text: in.Caption, X: fmt.Sprint(in.PosX), Y: fmt.Sprint(in.PosY), Align: "left", Inline: true, ScalePixels: float64(in.Scale)}
		res, err := c.Caption(r.Context(), api.Principal(r.Context()), req)
		if err != nil {
			compatJSONError(w, r, log, err, 0, "")
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"meme_data": base64.StdEncoding.EncodeToString(res.Data), "meme_type": res.ContentType})
	})
}

// 003: POST /presigned-post {"object_name": ...} → boto3's
// generate_presigned_post shape, lowercase field names.
func handleCompatPresignedPost(u *upload.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ObjectName string `json:"object_name"`
		}
		if err := api.DecodeJSON(http.MaxBytesReader(w, r.Body, api.MaxBody), &in); err != nil {
			compatJSONError(w, r, log, err, 0, "")
			return
		}
		post, err := u.Form(r.Context(), api.Principal(r.Context()), upload.FormRequest{Key: in.ObjectName, ExpiresIn: time.Hour})
		if err != nil {
			compatJSONError(w, r, log, err, 0, "")
			return
		}
		fields := map[string]string{}
		for k, v := range post.Fields {
			fields[strings.ToLower(k)] = v
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"url": post.URL, "fields": fields})
	})
}

// 004: POST /download-url {"fileKey": ..., "expire_in": 600} →
// {"result":"success","url": ...}.
func handleCompatDownloadURL(g *grant.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			FileKey  string          `json:"fileKey"`
			ExpireIn json.RawMessage `json:"expire_in"`
		}
		if err := api.DecodeJSON(http.MaxBytesReader(w, r.Body, api.MaxBody), &in); err != nil {
			compatJSONError(w, r, log, err, 0, "")
			return
		}
		secs, err := compatSeconds(in.ExpireIn)
		if err != nil {
			compatJSONError(w, r, log, nil, http.StatusBadRequest, "expire_in must be a whole number of seconds, from 1 to 604800.")
			return
		}
		d, err := g.Download(r.Context(), api.Principal(r.Context()), grant.DownloadRequest{Key: in.FileKey, ExpiresIn: time.Duration(secs) * time.Second, SkipCheck: true})
		if err != nil {
			compatJSONError(w, r, log, err, 0, "")
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"result": "success", "url": d.URL})
	})
}

// compatSeconds parses seed 004's expire_in: absent or null (0, the
// default), a JSON integer, or a string of decimal digits, from 1 to 7 days.
// The seed passed it through parseInt, which reads "600abc" as 600; filegate
// refuses such values (and exponents, fractions, signs and overflows)
// rather than guess.
func compatSeconds(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if s == "" || s == "null" {
		return 0, nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" || len(s) > 6 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a whole number of seconds")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > int64(grant.MaxExpiry/time.Second) {
		return 0, errors.New("out of range")
	}
	return n, nil
}
