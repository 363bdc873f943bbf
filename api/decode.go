package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/filegate/filegate"
	segjson "github.com/segmentio/encoding/json"
)

// MaxBody bounds every JSON request body.
const MaxBody = 1 << 20

// decode reads one JSON object from r's body into v. Unknown fields, trailing
// data, multipart bodies and bodies over MaxBody are refused. Other content
// types are read as JSON anyway: curl -d sends a form type by default.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	const op = "api.decode"
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || strings.HasPrefix(mt, "multipart/") {
			return filegate.NewError(filegate.Unsupported, op, "unsupported_media_type", "the body must be application/json")
		}
	}
	return DecodeJSON(http.MaxBytesReader(w, r.Body, MaxBody), v)
}

// DecodeJSON is the body parser proper, separate from HTTP for fuzzing:
// one JSON value, unknown fields and trailing data refused, errors as
// problems that show no internal detail.
//
// The body is read whole (at most MaxBody bytes) into a pooled buffer and
// parsed with segmentio/encoding's json.Parse, which reads into the same
// structs, tags and UnmarshalJSON methods as encoding/json and reports the
// same error types, at a seventh of the cost: encoding/json's Decoder spent
// about 4 µs of a grant request's 40 on a 60-byte body (reflection,
// buffers). FuzzDecodeJSON holds the two to the same answers.
func DecodeJSON(body io.Reader, v any) error {
	const op = "api.decode"
	buf := bodies.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // a large body's buffer is not kept
			buf.Reset()
			bodies.Put(buf)
		}
	}()
	// Bounded here whatever the reader (the HTTP routes bound it with
	// http.MaxBytesReader already): one byte over MaxBody tells.
	_, err := buf.ReadFrom(io.LimitReader(body, MaxBody+1))
	if err == nil && buf.Len() > MaxBody {
		err = errBodyTooLarge
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, errBodyTooLarge) {
			return filegate.NewError(filegate.TooLarge, op, "body_too_large", fmt.Sprintf("the body exceeds %d bytes", MaxBody))
		}
		// A body cut off or too slow: the cause names socket addresses,
		// so it is logged, never shown.
		return filegate.NewError(filegate.Invalid, op, "body_unreadable", "the body could not be read (cut off or too slow)").Wrap(err)
	}
	if len(bytes.TrimLeft(buf.Bytes(), jsonSpace)) == 0 {
		return filegate.NewError(filegate.Invalid, op, "invalid_json", "the body is empty")
	}
	rest, err := segjson.Parse(buf.Bytes(), v, segjson.DisallowUnknownFields)
	if err != nil {
		var fe *filegate.Error
		if errors.As(err, &fe) {
			return fe // a field's own UnmarshalJSON refused its value (expiry)
		}
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ):
			return filegate.NewError(filegate.Invalid, op, "invalid_json", fmt.Sprintf("field %q must be %s", typ.Field, typ.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// Its text names the field and is safe to show.
			return filegate.NewError(filegate.Invalid, op, "invalid_json", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return filegate.NewError(filegate.Invalid, op, "invalid_json", "the body is not valid JSON")
		}
	}
	switch rest = bytes.TrimLeft(rest, jsonSpace); {
	case len(rest) == 0:
		return nil
	case strings.IndexByte(`{["-0123456789tfn`, rest[0]) >= 0:
		return filegate.NewError(filegate.Invalid, op, "invalid_json", "the body holds more than one JSON value")
	default:
		return filegate.NewError(filegate.Invalid, op, "invalid_json", "unexpected data after the JSON object")
	}
}

// jsonSpace is JSON's whitespace.
const jsonSpace = " \t\r\n"

var errBodyTooLarge = errors.New("body too large")

// bodies holds buffers for request bodies.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Header values shared by every JSON answer: assigned, not Set, so that
// no answer allocates them (net/http only reads them).
var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
)

// encoder is a JSON encoder writing into its own buffer, kept in a pool.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false) // URLs stay readable: & not \u0026
	return e
}}

// WriteJSON answers v as JSON with status, never cached, in one write with
// its length.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	e := encoders.Get().(*encoder)
	defer func() {
		if e.buf.Cap() <= 64<<10 { // a listing's large buffer is not kept
			e.buf.Reset()
			encoders.Put(e)
		}
	}()
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = noStore
	if err := e.enc.Encode(v); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(e.buf.Len())}
	w.WriteHeader(status)
	_, _ = w.Write(e.buf.Bytes())
}

// expiry is an expires_in member: whole seconds from 1 to 7 days, checked
// while decoding. Absent or null, it is zero: the service's default.
type expiry struct{ d time.Duration }

func (e *expiry) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var secs int64
	if err := json.Unmarshal(b, &secs); err != nil {
		return filegate.NewError(filegate.Invalid, "api.decode", "invalid_expiry", "expires_in must be a whole number of seconds")
	}
	d, err := expiresIn("api.decode", &secs)
	e.d = d
	return err
}

// Decode reads r's JSON body into v as the native routes do (bounded,
// unknown fields refused), for extensions.
func Decode(w http.ResponseWriter, r *http.Request, v any) error { return decode(w, r, v) }
