package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/testtool"
)

func need(t *testing.T, tool string) string {
	t.Helper()
	return testtool.Find(t, tool, "installed by .ci/run")
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

// translate runs aws-sam-translator on the template, with the functions'
// code already packaged (as `sam package` leaves it), and returns the
// CloudFormation JSON.
func translate(t *testing.T) map[string]any {
	t.Helper()
	py := need(t, "python3")
	script := `
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
from samtranslator.public.exceptions import InvalidDocumentException
t = yaml_parse(open("template.yaml").read())
for r in t["Resources"].values():
    if r["Type"] == "AWS::Serverless::Function":
        r["Properties"]["CodeUri"] = "s3://artifacts/filegate.zip"
t.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://artifacts/filegate.zip"
try:
    print(json.dumps(transform(t, {}, None)))
except InvalidDocumentException as e:
    print("\n".join(c.message for c in e.causes), file=sys.stderr)
    sys.exit(1)
`
	cmd := exec.Command(py, "-c", script)
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if strings.Contains(stderr.String(), "No module named 'samtranslator'") {
		if os.Getenv("CI") != "" {
			t.Fatal("aws-sam-translator is not installed")
		}
		t.Skip("aws-sam-translator is not installed")
	}
	if err != nil {
		t.Fatalf("aws-sam-translator: %v\n%s", err, stderr.String())
	}
	var cfn map[string]any
	if err := json.Unmarshal(out, &cfn); err != nil {
		t.Fatal(err)
	}
	return cfn
}

// s3Actions maps each S3 operation filegate calls, or signs a grant for, to
// the IAM action it needs. An operation missing here fails the test, so a
// new call cannot ship without its permission being decided.
var s3Actions = map[string]string{
	"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
	"PutObject": "s3:PutObject", "UploadPart": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
	"AbortMultipartUpload": "s3:AbortMultipartUpload", "ListParts": "s3:ListMultipartUploadParts",
	"ListMultipartUploads": "s3:ListBucketMultipartUploads", "ListObjectsV2": "s3:ListBucket", "HeadBucket": "s3:ListBucket",
	"DeleteObject": "s3:DeleteObject",
	// Never on Lambda: buckets come from the template (no --create-buckets),
	// and POST /v1/credentials needs --sts-role-arn, which it does not set.
	"CreateBucket": "", "PutBucketCors": "", "AssumeRole": "",
}

// codeCalls lists the S3 operations in the store adapter: SDK calls and
// the operations of requests it signs itself.
func codeCalls(t *testing.T) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob("../store/*.go")
	sdk := regexp.MustCompile(`\.api\.([A-Z][A-Za-z0-9]+)\(`)
	signed := regexp.MustCompile(`Op: *"([A-Z][A-Za-z0-9]+)"`)
	ops := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{sdk, signed} {
			for _, m := range re.FindAllSubmatch(b, -1) {
				ops[string(m[1])] = true
			}
		}
	}
	if !ops["GetObject"] || !ops["UploadPart"] {
		t.Fatalf("found only %v in the store adapter", ops)
	}
	return ops
}

func TestTemplateGrantsExactlyWhatTheCodeCalls(t *testing.T) {
	cfn := translate(t)
	need := map[string]bool{}
	for op := range codeCalls(t) {
		a, ok := s3Actions[op]
		if !ok {
			t.Errorf("the store adapter calls %s: add it to s3Actions and to the template", op)
		}
		if a != "" {
			need[a] = true
		}
	}
	res := cfn["Resources"].(map[string]any)
	for _, name := range []string{"ApiFunctionRole", "StreamFunctionRole"} {
		role, ok := res[name].(map[string]any)
		if !ok {
			t.Fatalf("no %s in the translated template", name)
		}
		granted := map[string]bool{}
		b, _ := json.Marshal(role["Properties"].(map[string]any)["Policies"])
		for _, m := range regexp.MustCompile(`"(s3:[A-Za-z]+)"`).FindAllSubmatch(b, -1) {
			granted[string(m[1])] = true
		}
		for a := range need {
			if !granted[a] {
				t.Errorf("%s: the function needs %s, which the template does not grant", name, a)
			}
		}
		for a := range granted {
			if !need[a] {
				t.Errorf("%s: the template grants %s, which no code path uses", name, a)
			}
		}
		if strings.Contains(string(b), `"s3:*"`) || strings.Contains(string(b), `"Resource":"*"`) {
			t.Errorf("%s: a wildcard grant: %s", name, b)
		}
	}
	// Tracing is on, the authorizer caches for at most a minute.
	fn, _ := json.Marshal(res["ApiFunction"])
	if !strings.Contains(string(fn), `"TracingConfig":{"Mode":"Active"}`) {
		t.Errorf("tracing is not on: %s", fn)
	}
	api, _ := json.Marshal(res["Api"])
	for _, want := range []string{`"authorizerResultTtlInSeconds":60`, `"enableSimpleResponses":true`, `"authorizerPayloadFormatVersion":"2.0"`} {
		if !strings.Contains(string(api), want) {
			t.Errorf("the HTTP API's authorizer lacks %s", want)
		}
	}
}
