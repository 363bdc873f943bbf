package filegate

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest object key S3 accepts, in bytes.
const MaxKeyLen = 1024

// ValidateKey checks an object key supplied by a client. It is the single
// place where keys are checked; every service calls it before touching the
// store. A valid key is UTF-8, 1..1024 bytes, has no control characters, no
// backslash, does not start with "/", and has no empty, "." or ".." segment,
// also when percent-decoded (so "%2e%2e" cannot become ".." behind a proxy
// that decodes). A trailing "/" (a folder marker) is allowed.
func ValidateKey(op, key string) error {
	bad := func(msg string) error {
		return NewError(Invalid, op, "invalid_key", msg)
	}
	switch {
	case key == "":
		return bad("key is empty")
	case len(key) > MaxKeyLen:
		return bad("key is longer than 1024 bytes")
	case !utf8.ValidString(key):
		return bad("key is not valid UTF-8")
	case key[0] == '/':
		return bad("key must not start with /")
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return bad("key contains a control character")
		}
		if r == '\\' {
			return bad("key contains a backslash")
		}
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, s := range segs {
		if s == "" {
			return bad("key contains an empty path segment")
		}
		if isDotSegment(s) {
			return bad("key contains a . or .. segment")
		}
		if strings.Contains(s, "%") {
			if d, err := url.PathUnescape(s); err == nil && (isDotSegment(d) || strings.ContainsAny(d, "/\\")) {
				return bad("key contains a percent-encoded . or .. segment or separator")
			}
		}
	}
	return nil
}

func isDotSegment(s string) bool { return s == "." || s == ".." }

// ValidatePrefix checks a listing prefix: "" or a string that would be a
// valid key (a prefix may end in the middle of a segment).
func ValidatePrefix(op, prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidateKey(op, prefix)
}

// NormalizeScopePrefix returns the scope prefix a token is confined to.
// A non-empty prefix always ends in "/", so that a token for "users/alice"
// can never reach "users/alice2/".
func NormalizeScopePrefix(prefix string) (string, error) {
	prefix = strings.TrimPrefix(prefix, "/")
	if prefix == "" {
		return "", nil
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if err := ValidateKey("filegate.NormalizeScopePrefix", prefix); err != nil {
		return "", err
	}
	return prefix, nil
}
