// Package companion serves the S3 routes of Uppy Companion (the protocol
// of Uppy's @uppy/aws-s3 plugin) as an adapter over filegate's services,
// so that Uppy uploads straight to the store with filegate signing:
//
//	GET    /s3/params?filename=&type=&metadata[k]=v   a browser POST form
//	POST   /s3/multipart {filename, type, metadata}    {key, uploadId}
//	GET    /s3/multipart/{uploadId}/{partNumber}?key=  {url, expires}
//	GET    /s3/multipart/{uploadId}/batch?key=&partNumbers=1,2
//	GET    /s3/multipart/{uploadId}?key=               [{PartNumber, ETag, Size}]
//	POST   /s3/multipart/{uploadId}/complete?key=      {location, key}
//	DELETE /s3/multipart/{uploadId}?key=               {}
//	GET    /s3/sts                                     temporary credentials
//
// Keys: Uppy's filename is a path relative to the caller's prefix (the
// web app sends "folder/name.jpg"); the answer carries the full key, which
// Uppy sends back. The uploadId is filegate's sealed session id, bound to
// that key and to the caller. Every route goes through the same services,
// scopes and size limits as /v1. Uppy declares no sizes, so single files
// get a POST form whose policy bounds the size, and multipart sessions
// are checked against the caller's limit on their stored parts (package
// upload, StartOpen).
package companion

import (
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/api"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/tempcreds"
	"github.com/filegate/filegate/upload"
)

// Services are what the routes adapt.
type Services struct {
	Uploads     *upload.Service
	Grants      *grant.Service
	Credentials *tempcreds.Service
}

// Routes is Companion's S3 routes, as an api.Extension.
type Routes struct {
	s   Services
	log *slog.Logger
}

// New returns the routes over s.
func New(s Services, log *slog.Logger) *Routes { return &Routes{s: s, log: log} }

var _ api.Extension = (*Routes)(nil)

// Register adds the routes. They take a bearer token (Uppy 5's headers
// option) or the web app's session cookie (Uppy 6 sends no headers).
func (c *Routes) Register(mux *http.ServeMux, auth api.Auth) {
	a := auth.BearerOrCookie
	mux.Handle("GET /s3/params", a(http.HandlerFunc(c.params)))
	mux.Handle("POST /s3/multipart", a(http.HandlerFunc(c.create)))
	mux.Handle("GET /s3/multipart/{uploadId}/batch", a(http.HandlerFunc(c.signBatch)))
	mux.Handle("GET /s3/multipart/{uploadId}/{partNumber}", a(http.HandlerFunc(c.signPart)))
	mux.Handle("GET /s3/multipart/{uploadId}", a(http.HandlerFunc(c.listParts)))
	mux.Handle("POST /s3/multipart/{uploadId}/complete", a(http.HandlerFunc(c.complete)))
	mux.Handle("DELETE /s3/multipart/{uploadId}", a(http.HandlerFunc(c.abort)))
	mux.Handle("GET /s3/sts", a(http.HandlerFunc(c.sts)))
}

// NotFound leaves unknown routes to the native problem answer.
func (c *Routes) NotFound(http.ResponseWriter, *http.Request) bool { return false }

const maxFilename = 1024

func invalid(code, msg string) error {
	return filegate.NewError(filegate.Invalid, "companion", code, msg)
}

// objectKey is the full key for Uppy's filename: the caller's prefix, then
// the filename as a relative path. ValidateKey (in the services) refuses
// dot segments, empty segments and control characters.
func objectKey(p *filegate.Principal, filename string) (string, error) {
	switch {
	case filename == "":
		return "", invalid("invalid_filename", "filename is required")
	case len(filename) > maxFilename:
		return "", invalid("invalid_filename", "filename is longer than 1024 bytes")
	case strings.HasPrefix(filename, "/"):
		return "", invalid("invalid_filename", "filename is a path relative to the token's prefix: no leading /")
	}
	return p.Prefix + filename, nil
}

// metadata turns Uppy's meta fields into S3 user metadata as Companion
// does: names lowercased, values as strings, non-ASCII values RFC 2047
// encoded. Empty and null values are dropped, and so are name and type,
// which Uppy always sends and which the key and Content-Type already carry.
func metadata(in map[string]any) (map[string]string, error) {
	if len(in) > 64 {
		return nil, invalid("invalid_metadata", "at most 64 metadata fields")
	}
	out := map[string]string{}
	for k, v := range in {
		name := strings.ToLower(k)
		if name == "name" || name == "type" {
			continue
		}
		var s string
		switch v := v.(type) {
		case nil:
			continue
		case string:
			s = v
		case bool, float64:
			s = fmt.Sprint(v)
		default:
			return nil, invalid("invalid_metadata", fmt.Sprintf("metadata %q must be a string, number or boolean", k))
		}
		if s == "" {
			continue
		}
		if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			s = mime.QEncoding.Encode("utf-8", s)
		}
		out[name] = s
	}
	return out, upload.ValidateMetadata("companion", out)
}

func (c *Routes) fail(w http.ResponseWriter, r *http.Request, err error) {
	api.WriteError(w, r, c.log, err)
}

// params answers a browser POST form for one file: its policy binds the
// exact key, the Content-Type and the caller's size limit.
func (c *Routes) params(w http.ResponseWriter, r *http.Request) {
	p := api.Principal(r.Context())
	q := r.URL.Query()
	meta := map[string]any{}
	for k, vs := range q {
		switch {
		case k == "filename" || k == "type":
		case strings.HasPrefix(k, "metadata[") && strings.HasSuffix(k, "]") && len(vs) == 1:
			meta[k[len("metadata["):len(k)-1]] = vs[0]
		default:
			c.fail(w, r, invalid("invalid_query", fmt.Sprintf("unexpected query parameter %q", k)))
			return
		}
	}
	key, err := objectKey(p, q.Get("filename"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	md, err := metadata(meta)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	form, err := c.s.Uploads.Form(r.Context(), p, upload.FormRequest{Key: key, ContentType: q.Get("type"), Metadata: md})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"method": "POST", "url": form.URL, "fields": form.Fields, "headers": map[string]string{},
		"expires": int64(time.Until(form.Expires).Seconds()),
	})
}

type createJSON struct {
	Filename string         `json:"filename"`
	Type     string         `json:"type"`
	Metadata map[string]any `json:"metadata"`
}

func (c *Routes) create(w http.ResponseWriter, r *http.Request) {
	p := api.Principal(r.Context())
	var in createJSON
	if err := api.Decode(w, r, &in); err != nil {
		c.fail(w, r, err)
		return
	}
	key, err := objectKey(p, in.Filename)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	md, err := metadata(in.Metadata)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	id, err := c.s.Uploads.StartOpen(r.Context(), p, upload.OpenRequest{Key: key, ContentType: in.Type, Metadata: md})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"key": key, "uploadId": id})
}

// session checks the ?key= Uppy sends against the session's own key and
// returns the upload id.
func (c *Routes) session(r *http.Request) (string, error) {
	p := api.Principal(r.Context())
	id := r.PathValue("uploadId")
	key, err := c.s.Uploads.Key(p, id)
	if err != nil {
		return "", err
	}
	if q := r.URL.Query().Get("key"); q != key {
		return "", filegate.NewError(filegate.Forbidden, "companion", "key_mismatch", "key does not match the upload session's key")
	}
	return id, nil
}

func (c *Routes) signPart(w http.ResponseWriter, r *http.Request) {
	id, err := c.session(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	n, err := strconv.ParseInt(r.PathValue("partNumber"), 10, 32)
	if err != nil || n < 1 || n > upload.MaxParts {
		c.fail(w, r, invalid("invalid_parts", "partNumber must be 1 to 10000"))
		return
	}
	parts, exp, err := c.s.Uploads.SignParts(r.Context(), api.Principal(r.Context()), id, []int32{int32(n)}, 0)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"url": parts[0].URL, "expires": int64(time.Until(exp).Seconds())})
}

func (c *Routes) signBatch(w http.ResponseWriter, r *http.Request) {
	id, err := c.session(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	list := strings.Split(r.URL.Query().Get("partNumbers"), ",")
	if len(list) > upload.MaxBatch {
		c.fail(w, r, invalid("invalid_parts", fmt.Sprintf("at most %d partNumbers", upload.MaxBatch)))
		return
	}
	numbers := make([]int32, 0, len(list))
	for _, s := range list {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 1 || n > upload.MaxParts {
			c.fail(w, r, invalid("invalid_parts", "partNumbers must be a comma-separated list of 1 to 10000"))
			return
		}
		numbers = append(numbers, int32(n))
	}
	parts, _, err := c.s.Uploads.SignParts(r.Context(), api.Principal(r.Context()), id, numbers, 0)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	urls := make(map[string]string, len(parts))
	for _, pt := range parts {
		urls[strconv.Itoa(int(pt.Number))] = pt.URL
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"presignedUrls": urls})
}

type partJSON struct {
	PartNumber int32  `json:"PartNumber"`
	ETag       string `json:"ETag"`
	Size       int64  `json:"Size,omitempty"`
}

func (c *Routes) listParts(w http.ResponseWriter, r *http.Request) {
	id, err := c.session(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	st, err := c.s.Uploads.Status(r.Context(), api.Principal(r.Context()), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	out := make([]partJSON, len(st.Parts))
	for i, pt := range st.Parts {
		out[i] = partJSON{PartNumber: pt.Number, ETag: `"` + pt.ETag + `"`, Size: pt.Size}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (c *Routes) complete(w http.ResponseWriter, r *http.Request) {
	id, err := c.session(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var in struct {
		Parts []partJSON `json:"parts"`
	}
	if err := api.Decode(w, r, &in); err != nil {
		c.fail(w, r, err)
		return
	}
	if len(in.Parts) == 0 || len(in.Parts) > upload.MaxParts {
		c.fail(w, r, invalid("invalid_parts", "parts must list 1 to 10000 parts"))
		return
	}
	parts := make([]filegate.Part, len(in.Parts))
	for i, pt := range in.Parts {
		parts[i] = filegate.Part{Number: pt.PartNumber, ETag: strings.Trim(pt.ETag, `"`)}
	}
	p := api.Principal(r.Context())
	info, err := c.s.Uploads.Complete(r.Context(), p, id, parts)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	out := map[string]string{"key": info.Key, "location": ""}
	if p.Can(filegate.ActDownload) {
		if d, err := c.s.Grants.Download(r.Context(), p, grant.DownloadRequest{Key: info.Key, SkipCheck: true}); err == nil {
			out["location"] = d.URL
		}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (c *Routes) abort(w http.ResponseWriter, r *http.Request) {
	id, err := c.session(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.s.Uploads.Abort(r.Context(), api.Principal(r.Context()), id); err != nil {
		c.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, struct{}{}) // Uppy parses every answer as JSON
}

// sts answers Companion's /s3/sts shape from the credentials service (501
// where the store offers none, as on the embedded store).
func (c *Routes) sts(w http.ResponseWriter, r *http.Request) {
	is, err := c.s.Credentials.Issue(r.Context(), api.Principal(r.Context()), 0)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"credentials": map[string]string{
			"AccessKeyId": is.AccessKeyID, "SecretAccessKey": is.SecretAccessKey,
			"SessionToken": is.SessionToken, "Expiration": is.Expires.UTC().Format(time.RFC3339),
		},
		"bucket": is.Bucket, "region": is.Region, "prefix": is.Prefix,
	})
}
