// Package filegate holds the domain types shared by every filegate package:
// the error type and its kinds, the actions a token may be granted, and the
// principal (who is asking, and where they may act).
//
// Services (grant, bundle, caption, ...) return *Error values whose Kind says
// what went wrong; the HTTP layer maps kinds to statuses in exactly one place.
package filegate

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error by what the caller can do about it.
type Kind uint8

// The kinds of error. Their HTTP meaning is fixed in one table in package api.
const (
	Internal        Kind = iota // a bug or an unexpected failure; details are logged, not shown
	Invalid                     // the request is malformed or a value is out of range
	Unauthenticated             // no credentials, or credentials that are not valid
	Forbidden                   // valid credentials, but outside their scope
	NotFound                    // the object, upload or route does not exist
	Conflict                    // the request conflicts with the current state
	TooLarge                    // a body, object or selection exceeds a limit
	Unsupported                 // a media type or format that is not handled
	Unavailable                 // the store (or another dependency) cannot be reached
	Expired                     // a grant or session that has expired
	Busy                        // a bounded resource is in use; try again shortly
	NotImplemented              // the configured store or deployment cannot do this
)

var kindNames = [...]string{
	Internal:        "internal",
	Invalid:         "invalid_request",
	Unauthenticated: "unauthenticated",
	Forbidden:       "forbidden",
	NotFound:        "not_found",
	Conflict:        "conflict",
	TooLarge:        "too_large",
	Unsupported:     "unsupported",
	Unavailable:     "unavailable",
	Expired:         "expired",
	Busy:            "busy",
	NotImplemented:  "not_implemented",
}

// String returns the stable, machine-readable name of the kind. It is the
// default value of the `code` member of problem-details responses.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is the one error type of filegate. Op names the operation that
// failed ("grant.Download"), Kind what kind of failure it was, Key the object
// key involved if any, Code a more specific stable code than the kind
// ("key_outside_scope"), Msg a message safe to show to the client, and Err
// the underlying cause (never shown to clients).
type Error struct {
	Kind Kind
	Op   string
	Key  string
	Code string
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.Key != "" {
		fmt.Fprintf(&b, " %q", e.Key)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// NewError is the one constructor of *Error: the kind, the operation, a
// stable code ("" for the kind's name) and a message safe to show to the
// client. WithKey and Wrap add the key involved and the cause.
func NewError(kind Kind, op, code, msg string) *Error {
	return &Error{Kind: kind, Op: op, Code: code, Msg: msg}
}

// WithKey sets the object key the error is about.
func (e *Error) WithKey(key string) *Error {
	e.Key = key
	return e
}

// Wrap sets the underlying cause (logged, never shown to clients).
func (e *Error) Wrap(err error) *Error {
	e.Err = err
	return e
}

// Errorf builds an *Error with a client-safe message.
func Errorf(kind Kind, op, format string, args ...any) *Error {
	return NewError(kind, op, "", fmt.Sprintf(format, args...))
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Action is something a token may be allowed to do.
type Action string

// The actions a token can be granted.
const (
	ActList     Action = "list"
	ActDownload Action = "download"
	ActUpload   Action = "upload"
	ActBundle   Action = "bundle"
	ActCaption  Action = "caption"
	ActAdmin    Action = "admin"
)

// Actions lists every action, in a stable order.
var Actions = []Action{ActList, ActDownload, ActUpload, ActBundle, ActCaption, ActAdmin}

// ParseAction returns the action named s.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", Errorf(Invalid, "filegate.ParseAction", "unknown action %q (want one of list, download, upload, bundle, caption, admin)", s)
}

// Principal is an authenticated caller: a name, the actions it may perform
// and the key prefix it is confined to ("" means the whole bucket).
type Principal struct {
	ID      string // stable identifier (token id); binds sessions to their creator
	Name    string
	Actions []Action
	Prefix  string
	Expires time.Time // zero: no expiry
	MaxSize int64     // largest object it may upload, in bytes; 0: the server's limit
}

// Can reports whether p may perform a. The admin action implies every other.
func (p *Principal) Can(a Action) bool {
	for _, have := range p.Actions {
		if have == a || have == ActAdmin {
			return true
		}
	}
	return false
}

// Authorize checks that p may perform a on key. The key must already have
// passed ValidateKey.
func (p *Principal) Authorize(op string, a Action, key string) error {
	if !p.Can(a) {
		return NewError(Forbidden, op, "action_not_allowed", fmt.Sprintf("token may not %s", a))
	}
	if !strings.HasPrefix(key, p.Prefix) {
		return NewError(Forbidden, op, "key_outside_scope", fmt.Sprintf("key is outside the token's prefix %q", p.Prefix)).WithKey(key)
	}
	return nil
}
