package browse

import (
	"context"
	"fmt"
	"testing"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/memstore"
)

func TestList(t *testing.T) {
	b := memstore.New("b")
	for _, k := range []string{"users/alice/a.txt", "users/alice/b.txt", "users/alice/pics/1.jpg", "users/bob/x.txt"} {
		_ = b.Put(context.Background(), k, "", []byte(k))
	}
	s := New(b)
	alice := &filegate.Principal{Actions: []filegate.Action{filegate.ActList}, Prefix: "users/alice/"}
	p, err := s.List(context.Background(), alice, Request{Delimiter: "/"})
	if err != nil || len(p.Objects) != 2 || len(p.Folders) != 1 || p.Folders[0] != "users/alice/pics/" || p.Cursor != "" {
		t.Fatalf("List = %+v, %v", p, err)
	}
	// Pages of one, following the cursor.
	var keys []string
	cursor := ""
	for range 10 {
		p, err := s.List(context.Background(), alice, Request{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Objects {
			keys = append(keys, o.Key)
		}
		if cursor = p.Cursor; cursor == "" {
			break
		}
	}
	if fmt.Sprint(keys) != "[users/alice/a.txt users/alice/b.txt users/alice/pics/1.jpg]" {
		t.Errorf("paged keys %q", keys)
	}
	for _, c := range []struct {
		req  Request
		kind filegate.Kind
	}{
		{Request{Prefix: "users/bob/"}, filegate.Forbidden},
		{Request{Prefix: "users/"}, filegate.Forbidden},
		{Request{Prefix: "users/alice/../bob/"}, filegate.Invalid},
		{Request{Delimiter: ","}, filegate.Invalid},
		{Request{Limit: 1001}, filegate.Invalid},
		{Request{Limit: -1}, filegate.Invalid},
		{Request{Cursor: "!!"}, filegate.Invalid},
	} {
		if _, err := s.List(context.Background(), alice, c.req); filegate.KindOf(err) != c.kind {
			t.Errorf("%+v: %v, want %v", c.req, err, c.kind)
		}
	}
	if _, err := s.List(context.Background(), &filegate.Principal{Actions: []filegate.Action{filegate.ActDownload}}, Request{}); filegate.KindOf(err) != filegate.Forbidden {
		t.Errorf("a token without list: %v", err)
	}
}
