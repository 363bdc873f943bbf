// Package client is a Go client for filegate's HTTP API and the transfers
// built on it: parallel, resumable multipart uploads and ranged downloads
// that move bytes straight between the caller and the store through the
// grants filegate signs. The filegate command's client subcommands (ls,
// put, get, url, zip, caption, sessions, whoami) are thin layers over it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one filegate server with one bearer token.
type Client struct {
	base  string // without a trailing slash
	token string
	http  *http.Client // API calls
	store *http.Client // grants: straight to the store, no timeout on bodies
}

// New returns a Client for the filegate at base (such as
// "http://127.0.0.1:8080") authenticating with token.
func New(base, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("filegate URL %q: want http(s)://host[:port]", base)
	}
	if token == "" {
		return nil, errors.New("no token: run `filegate login URL`, or set FILEGATE_TOKEN")
	}
	// Transfers open many connections to one store host in parallel: keep
	// them alive between parts instead of paying a handshake per part.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &Client{
		base:  u.String(),
		token: token,
		http:  &http.Client{Transport: tr, Timeout: 2 * time.Minute},
		store: &http.Client{Transport: tr},
	}, nil
}

// Base is the server's URL.
func (c *Client) Base() string { return c.base }

// Problem is an error answer from filegate (RFC 9457 problem details) or
// from the store.
type Problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Title)
	if b.Len() == 0 {
		b.WriteString(http.StatusText(p.Status))
	}
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	if p.Code != "" {
		fmt.Fprintf(&b, " (%s)", p.Code)
	}
	return b.String()
}

// StatusOf returns the HTTP status of a Problem in err's chain, or 0.
func StatusOf(err error) int {
	var p *Problem
	if errors.As(err, &p) {
		return p.Status
	}
	return 0
}

// problemFrom reads an error answer. Store answers are S3 XML; their Code
// and Message become the problem's code and detail.
func problemFrom(resp *http.Response) *Problem {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	p := &Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case ct == "application/problem+json" || ct == "application/json":
		_ = json.Unmarshal(b, p)
		p.Status = resp.StatusCode
	case bytes.HasPrefix(bytes.TrimSpace(b), []byte("<")):
		p.Code = between(b, "<Code>", "</Code>")
		p.Detail = "the store refused: " + between(b, "<Message>", "</Message>")
	}
	return p
}

func between(b []byte, open, close string) string {
	s := string(b)
	i := strings.Index(s, open)
	if i < 0 {
		return ""
	}
	s = s[i+len(open):]
	if j := strings.Index(s, close); j >= 0 {
		return s[:j]
	}
	return ""
}

// call sends a JSON request to the API and decodes a JSON answer into out
// (nil: discard it).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// send sends a request to the API and returns a 2xx response (the caller
// closes its body) or the problem.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL carries no secret; the token is only in a header.
		return nil, fmt.Errorf("cannot reach filegate: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, problemFrom(resp)
	}
	return resp, nil
}

// Whoami describes the calling token.
type Whoami struct {
	Name      string     `json:"name"`
	Actions   []string   `json:"actions"`
	Prefix    string     `json:"prefix"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	MaxSize   int64      `json:"max_size,omitempty"`
}

// Whoami asks who the token is.
func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var w Whoami
	err := c.call(ctx, http.MethodGet, "/v1/whoami", nil, &w)
	return w, err
}

// Object is one listed object.
type Object struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag"`
	LastModified time.Time `json:"last_modified"`
}

// Listing is one page of a listing.
type Listing struct {
	Objects []Object `json:"objects"`
	Folders []string `json:"folders"`
	Cursor  string   `json:"cursor,omitempty"`
}

// List returns one page under prefix; delimiter "/" groups folders; cursor
// continues a previous page ("" for the first).
func (c *Client) List(ctx context.Context, prefix, delimiter, cursor string) (Listing, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if delimiter != "" {
		q.Set("delimiter", delimiter)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	path := "/v1/objects"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l Listing
	err := c.call(ctx, http.MethodGet, path, nil, &l)
	return l, err
}

// Walk calls fn for every object under prefix, page by page.
func (c *Client) Walk(ctx context.Context, prefix string, fn func(Object) error) error {
	cursor := ""
	for {
		page, err := c.List(ctx, prefix, "", cursor)
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if page.Cursor == "" {
			return nil
		}
		cursor = page.Cursor
	}
}

// DownloadRequest asks for a download grant.
type DownloadRequest struct {
	Key         string `json:"key"`
	ExpiresIn   int64  `json:"expires_in,omitempty"` // seconds
	Filename    string `json:"filename,omitempty"`
	Disposition string `json:"disposition,omitempty"`
}

// Download is a download grant.
type Download struct {
	URL       string    `json:"url"`
	Method    string    `json:"method"`
	ExpiresAt time.Time `json:"expires_at"`
	Size      int64     `json:"size"`
	ETag      string    `json:"etag"`
}

// Download asks for a presigned GET of an existing object.
func (c *Client) Download(ctx context.Context, req DownloadRequest) (Download, error) {
	var d Download
	err := c.call(ctx, http.MethodPost, "/v1/downloads", req, &d)
	return d, err
}

// UploadRequest asks to upload an object of Size bytes.
type UploadRequest struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
}

// PartURL is a presigned URL for one part.
type PartURL struct {
	Number int32  `json:"number"`
	URL    string `json:"url"`
	Size   int64  `json:"size"`
}

// Begin is the answer to StartUpload: a single PUT (Type "put") or a
// multipart session (Type "multipart").
type Begin struct {
	Type      string            `json:"type"`
	Key       string            `json:"key"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	UploadID  string            `json:"upload_id"`
	PartSize  int64             `json:"part_size"`
	PartCount int32             `json:"part_count"`
	Parts     []PartURL         `json:"parts"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// StartUpload signs a PUT or opens a multipart session, as the server
// decides from the size.
func (c *Client) StartUpload(ctx context.Context, req UploadRequest) (Begin, error) {
	var b Begin
	err := c.call(ctx, http.MethodPost, "/v1/uploads", req, &b)
	return b, err
}

// SignParts signs part URLs of a multipart session (at most 100 a call).
func (c *Client) SignParts(ctx context.Context, id string, numbers []int32) ([]PartURL, error) {
	var out struct {
		Parts []PartURL `json:"parts"`
	}
	err := c.call(ctx, http.MethodPost, "/v1/uploads/"+url.PathEscape(id)+"/parts", map[string]any{"numbers": numbers}, &out)
	return out.Parts, err
}

// StoredPart is a part the store already holds.
type StoredPart struct {
	Number int32  `json:"number"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

// UploadStatus is a multipart session and its stored parts.
type UploadStatus struct {
	UploadID  string       `json:"upload_id"`
	Key       string       `json:"key"`
	Size      int64        `json:"size"`
	PartSize  int64        `json:"part_size"`
	PartCount int32        `json:"part_count"`
	Parts     []StoredPart `json:"parts"`
}

// UploadStatus lists the parts a session already has.
func (c *Client) UploadStatus(ctx context.Context, id string) (UploadStatus, error) {
	var s UploadStatus
	err := c.call(ctx, http.MethodGet, "/v1/uploads/"+url.PathEscape(id), nil, &s)
	return s, err
}

// ObjectInfo is a stored object.
type ObjectInfo struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag"`
}

// CompletePart is one part of a complete call.
type CompletePart struct {
	Number int32  `json:"number"`
	ETag   string `json:"etag"`
}

// CompleteUpload assembles the object from every part, in order.
func (c *Client) CompleteUpload(ctx context.Context, id string, parts []CompletePart) (ObjectInfo, error) {
	var o ObjectInfo
	err := c.call(ctx, http.MethodPost, "/v1/uploads/"+url.PathEscape(id)+"/complete", map[string]any{"parts": parts}, &o)
	return o, err
}

// AbortUpload aborts a multipart session and drops its parts.
func (c *Client) AbortUpload(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/uploads/"+url.PathEscape(id), nil, nil)
}

// BundleRequest asks for a zip of Keys, or of everything under Prefix.
type BundleRequest struct {
	Keys        []string `json:"keys,omitempty"`
	Prefix      string   `json:"prefix,omitempty"`
	Name        string   `json:"name,omitempty"`
	ExpiresIn   int64    `json:"expires_in,omitempty"`
	Compression string   `json:"compression,omitempty"`
	Missing     string   `json:"missing,omitempty"`
}

// Bundle is a stored zip and its link.
type Bundle struct {
	Key       string    `json:"key"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Size      int64     `json:"size"`
	Entries   int       `json:"entries"`
	Skipped   []string  `json:"skipped,omitempty"`
}

// Bundle stores a zip in the bundle bucket and returns its link.
func (c *Client) Bundle(ctx context.Context, req BundleRequest) (Bundle, error) {
	var b Bundle
	err := c.call(ctx, http.MethodPost, "/v1/bundles", req, &b)
	return b, err
}

// BundleStream returns the zip as a stream (the caller closes it) and its
// length (-1 when unknown).
func (c *Client) BundleStream(ctx context.Context, req BundleRequest) (io.ReadCloser, int64, error) {
	resp, err := c.send(ctx, http.MethodPost, "/v1/bundles/stream", req)
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// CaptionRequest asks for a caption rendered onto an image.
type CaptionRequest struct {
	Key        string `json:"key"`
	TopText    string `json:"top_text,omitempty"`
	BottomText string `json:"bottom_text,omitempty"`
	OutputKey  string `json:"output_key,omitempty"`
	Format     string `json:"format,omitempty"`
	ExpiresIn  int64  `json:"expires_in,omitempty"`
}

// Caption is a captioned image and its link.
type Caption struct {
	Key           string    `json:"key"`
	URL           string    `json:"url"`
	ExpiresAt     time.Time `json:"expires_at"`
	ContentType   string    `json:"content_type"`
	MissingGlyphs int       `json:"missing_glyphs,omitempty"`
}

// Caption renders a caption and stores the result.
func (c *Client) Caption(ctx context.Context, req CaptionRequest) (Caption, error) {
	var out Caption
	err := c.call(ctx, http.MethodPost, "/v1/captions", req, &out)
	return out, err
}

// Fetch GETs a grant's URL (optionally a byte range: end inclusive, -1 for
// none) and returns the response of a 200 or 206; the caller closes it.
func (c *Client) Fetch(ctx context.Context, rawURL string, start, end int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if end >= 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10))
	}
	resp, err := c.store.Do(req)
	if err != nil {
		return nil, storeErr(err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		defer resp.Body.Close()
		return nil, problemFrom(resp)
	}
	return resp, nil
}

// storeErr drops the URL (which carries a signature) from a transport
// error, so it never reaches a terminal or a log.
func storeErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("store: %s: %w", ue.Op, ue.Err)
	}
	return err
}

// Credentials are temporary store credentials confined to the token's scope.
type Credentials struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	Region          string    `json:"region"`
	Endpoint        string    `json:"endpoint,omitempty"`
	Bucket          string    `json:"bucket"`
	Prefix          string    `json:"prefix"`
}

// Credentials asks for temporary store credentials (STS), valid for
// expiresIn seconds (0: the server's default).
func (c *Client) Credentials(ctx context.Context, expiresIn int64) (Credentials, error) {
	var out Credentials
	var in any = struct{}{}
	if expiresIn > 0 {
		in = map[string]int64{"expires_in": expiresIn}
	}
	err := c.call(ctx, http.MethodPost, "/v1/credentials", in, &out)
	return out, err
}
