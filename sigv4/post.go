package sigv4

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Condition is one condition of a POST policy.
type Condition struct {
	// Op is "eq" ({"field": "value"}), "starts-with" (["starts-with",
	// "$field", "value"]) or "content-length-range" (with Min and Max).
	Op       string
	Field    string
	Value    string
	Min, Max int64
}

// Post is a signed browser form.
type Post struct {
	URL    string
	Fields map[string]string
}

// PresignPost signs a POST policy for bucket with the given conditions,
// valid for expires from now. key is the value of the form's key field; an
// exact-key condition is added unless a condition already checks the key
// (as aws-sdk-go-v2 does). Fields holds the key, the policy and the X-Amz-*
// fields; fields for the caller's own conditions are the caller's to add.
func (s *Signer) PresignPost(ctx context.Context, bucket, key string, conds []Condition, expires time.Duration, now time.Time) (Post, error) {
	if expires <= 0 || expires > MaxExpires {
		return Post{}, fmt.Errorf("sigv4: expiry %v outside (0, 7 days]", expires)
	}
	k, err := s.key(ctx, now)
	if err != nil {
		return Post{}, err
	}
	var dbuf [16]byte
	amzDate := string(appendAmzDate(dbuf[:0], now))
	credential := k.akid + "/" + k.date + "/" + s.region + "/s3/aws4_request"

	// The policy document, byte for byte as encoding/json writes the SDK's
	// map: {"conditions":[...],"expiration":"..."}.
	b := make([]byte, 0, 512)
	b = append(b, `{"conditions":[`...)
	b = appendEq(b, "X-Amz-Algorithm", algorithm)
	b = append(b, ',')
	b = appendEq(b, "bucket", bucket)
	b = append(b, ',')
	b = appendEq(b, "X-Amz-Credential", credential)
	b = append(b, ',')
	b = appendEq(b, "X-Amz-Date", amzDate)
	if k.token != "" {
		b = append(b, ',')
		b = appendEq(b, "X-Amz-Security-Token", k.token)
	}
	checksKey := false
	for _, c := range conds {
		b = append(b, ',')
		switch c.Op {
		case "eq":
			b = appendEq(b, c.Field, c.Value)
			checksKey = checksKey || c.Field == "key"
		case "starts-with":
			b = append(b, `["starts-with",`...)
			b = appendJSONString(b, "$"+c.Field)
			b = append(b, ',')
			b = appendJSONString(b, c.Value)
			b = append(b, ']')
			checksKey = checksKey || c.Field == "key"
		case "content-length-range":
			b = append(b, `["content-length-range",`...)
			b = strconv.AppendInt(b, c.Min, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, c.Max, 10)
			b = append(b, ']')
		default:
			return Post{}, fmt.Errorf("sigv4: unknown condition %q", c.Op)
		}
	}
	if !checksKey {
		b = append(b, ',')
		b = appendEq(b, "key", key)
	}
	b = append(b, `],"expiration":"`...)
	b = now.Add(expires).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `"}`...)

	// The signature is the HMAC of the base64 policy, which the buffer
	// holds right after the inner pad block.
	msg := make([]byte, 64+base64.StdEncoding.EncodedLen(len(b)))
	copy(msg, k.ipad[:])
	base64.StdEncoding.Encode(msg[64:], b)
	sig := k.sum(msg)

	fields := map[string]string{
		"X-Amz-Algorithm":  algorithm,
		"X-Amz-Date":       amzDate,
		"X-Amz-Credential": credential,
		"X-Amz-Signature":  hex.EncodeToString(sig[:]),
		"key":              key,
		"policy":           string(msg[64:]),
	}
	if k.token != "" {
		fields["X-Amz-Security-Token"] = k.token
	}
	return Post{URL: s.bucketURL(bucket), Fields: fields}, nil
}

// bucketURL is where a browser form posts to.
func (s *Signer) bucketURL(bucket string) string {
	if s.aws && !s.pathStyle && dnsCompatible(bucket) {
		return s.scheme + "://" + bucket + "." + s.host + s.basePath
	}
	return s.scheme + "://" + s.host + s.basePath + "/" + string(appendEscaped(nil, bucket, true))
}

func appendEq(b []byte, field, value string) []byte {
	b = append(b, '{')
	b = appendJSONString(b, field)
	b = append(b, ':')
	b = appendJSONString(b, value)
	return append(b, '}')
}

// appendJSONString writes s as encoding/json does (HTML-safe escaping
// included): plain printable ASCII is copied, anything else goes through
// json.Marshal so the escaping rules are exactly the standard library's.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
