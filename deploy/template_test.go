package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", tool)
		}
		t.Skipf("%s is not installed", tool)
	}
	return p
}

func TestTemplateLints(t *testing.T) {
	out, err := exec.Command(need(t, "cfn-lint"), "template.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
}

// functionCode extracts the CloudFront function from the template.
func functionCode(t *testing.T) string {
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var code []string
	indent := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "FunctionCode: |" {
			indent = len(l) - len(strings.TrimLeft(l, " ")) + 2
			for _, c := range lines[i+1:] {
				if strings.TrimSpace(c) != "" && len(c)-len(strings.TrimLeft(c, " ")) < indent {
					break
				}
				if len(c) >= indent {
					c = c[indent:]
				}
				code = append(code, c)
			}
			break
		}
	}
	if len(code) == 0 {
		t.Fatal("no FunctionCode in template.yaml")
	}
	return strings.Join(code, "\n")
}

func TestLengthFunction(t *testing.T) {
	node := need(t, "node")
	type req struct {
		Method  string            `json:"method"`
		Query   map[string]string `json:"query"`
		Headers map[string]string `json:"headers"`
	}
	cases := []struct {
		name   string
		in     req
		allow  bool
		keepQS bool
	}{
		{"put with the signed length", req{"PUT", map[string]string{"x-filegate-length": "1234"}, map[string]string{"content-length": "1234"}}, true, false},
		{"put with a larger body", req{"PUT", map[string]string{"x-filegate-length": "1234"}, map[string]string{"content-length": "999999"}}, false, false},
		{"put without content-length", req{"PUT", map[string]string{"x-filegate-length": "1234"}, nil}, false, false},
		{"put without a length in the grant", req{"PUT", nil, map[string]string{"content-length": "10"}}, false, false},
		{"put with a malformed length", req{"PUT", map[string]string{"x-filegate-length": "12a"}, map[string]string{"content-length": "12a"}}, false, false},
		{"get", req{"GET", nil, nil}, true, false},
		{"head", req{"HEAD", nil, nil}, true, false},
		{"get with an upload grant", req{"GET", map[string]string{"x-filegate-length": "10"}, nil}, false, false},
		{"delete", req{"DELETE", nil, nil}, false, false},
		{"post", req{"POST", nil, map[string]string{"content-length": "10"}}, false, false},
	}
	var script strings.Builder
	script.WriteString(functionCode(t))
	script.WriteString("\nvar cases = ")
	var ins []req
	for _, c := range cases {
		ins = append(ins, c.in)
	}
	b, _ := json.Marshal(ins)
	script.Write(b)
	script.WriteString(`;
var out = cases.map(function (c) {
  var qs = {}, hs = {};
  Object.keys(c.query || {}).forEach(function (k) { qs[k] = { value: c.query[k] }; });
  Object.keys(c.headers || {}).forEach(function (k) { hs[k] = { value: c.headers[k] }; });
  var ev = { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip: '192.0.2.1' },
             request: { method: c.method, uri: '/users/alice/x', querystring: qs, headers: hs, cookies: {} } };
  var r = handler(ev);
  return { allowed: r.statusCode === undefined, status: r.statusCode || 0, qs: Object.keys(r.querystring || {}) };
});
console.log(JSON.stringify(out));
`)
	f := filepath.Join(t.TempDir(), "fn.js")
	if err := os.WriteFile(f, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	outb, err := exec.Command(node, f).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, outb)
	}
	var got []struct {
		Allowed bool     `json:"allowed"`
		Status  int      `json:"status"`
		QS      []string `json:"qs"`
	}
	if err := json.Unmarshal(outb, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node printed %s", outb)
	}
	for i, c := range cases {
		g := got[i]
		if g.Allowed != c.allow || (!g.Allowed && g.Status != 403) {
			t.Errorf("%s: allowed %v (status %d), want %v", c.name, g.Allowed, g.Status, c.allow)
		}
		if g.Allowed && len(g.QS) != 0 {
			t.Errorf("%s: the length parameter is forwarded to the bucket: %v", c.name, g.QS)
		}
	}
}
