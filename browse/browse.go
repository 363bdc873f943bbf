// Package browse lists the objects a caller may see, page by page, with
// folders when a delimiter is given. Listings never leave the caller's prefix.
package browse

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/filegate/filegate"
)

// MaxLimit is the largest page size; it is also S3's.
const MaxLimit = 1000

// Service lists objects. It is safe for concurrent use.
type Service struct {
	src filegate.Bucket
}

// New returns a Service over st's source bucket.
func New(src filegate.Bucket) *Service { return &Service{src: src} }

// Request selects a page.
type Request struct {
	Prefix    string // "" means the caller's whole prefix
	Delimiter string // "" or "/"
	Cursor    string // from the previous page
	Limit     int    // 0: 1000
}

// Object is one listed object.
type Object struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
}

// Page is one page of a listing.
type Page struct {
	Objects []Object
	Folders []string
	Cursor  string // "" on the last page
}

// List returns one page of the objects under req.Prefix, which must lie
// inside p's prefix.
func (s *Service) List(ctx context.Context, p *filegate.Principal, req Request) (Page, error) {
	const op = "browse.List"
	if !p.Can(filegate.ActList) {
		return Page{}, filegate.NewError(filegate.Forbidden, op, "action_not_allowed", "token may not list")
	}
	prefix := req.Prefix
	if prefix == "" {
		prefix = p.Prefix
	}
	if err := filegate.ValidatePrefix(op, prefix); err != nil {
		return Page{}, err
	}
	if !strings.HasPrefix(prefix, p.Prefix) {
		return Page{}, filegate.NewError(filegate.Forbidden, op, "key_outside_scope", "prefix is outside the token's prefix "+quote(p.Prefix)).WithKey(prefix)
	}
	if req.Delimiter != "" && req.Delimiter != "/" {
		return Page{}, filegate.NewError(filegate.Invalid, op, "invalid_delimiter", `delimiter must be "/" or empty`)
	}
	if req.Limit < 0 || req.Limit > MaxLimit {
		return Page{}, filegate.NewError(filegate.Invalid, op, "invalid_limit", "limit must be between 1 and 1000")
	}
	token := ""
	if req.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.Cursor)
		if err != nil || len(b) == 0 || len(b) > 4096 {
			return Page{}, filegate.NewError(filegate.Invalid, op, "invalid_cursor", "cursor is not one this server returned")
		}
		token = string(b)
	}
	got, err := s.src.List(ctx, filegate.ListInput{Prefix: prefix, Delimiter: req.Delimiter, Token: token, Limit: int32(req.Limit)})
	if err != nil {
		return Page{}, err
	}
	page := Page{Objects: make([]Object, 0, len(got.Objects)), Folders: got.Folders}
	for _, o := range got.Objects {
		page.Objects = append(page.Objects, Object{Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified})
	}
	if page.Folders == nil {
		page.Folders = []string{}
	}
	if got.Next != "" {
		page.Cursor = base64.RawURLEncoding.EncodeToString([]byte(got.Next))
	}
	return page, nil
}

func quote(s string) string { return `"` + s + `"` }
