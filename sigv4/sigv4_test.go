package sigv4

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fixedClock wraps the SDK's own presigner so that it signs at a fixed time,
// as the SDK reads the wall clock itself.
type fixedClock struct {
	inner *v4.Signer
	at    time.Time
}

func (f fixedClock) PresignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, opts ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return f.inner.PresignHTTP(ctx, c, r, payloadHash, service, region, f.at, opts...)
}

type setup struct {
	endpoint  string
	region    string
	pathStyle bool
	creds     aws.CredentialsProvider
}

func sdkPresigner(st setup, at time.Time) *s3.PresignClient {
	client := s3.New(s3.Options{
		Region: st.region, Credentials: st.creds, UsePathStyle: st.pathStyle,
		BaseEndpoint: func() *string {
			if st.endpoint == "" {
				return nil
			}
			return aws.String(st.endpoint)
		}(),
	})
	return s3.NewPresignClient(client, func(o *s3.PresignOptions) {
		o.Presigner = fixedClock{inner: v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }), at: at}
	})
}

var setups = []setup{
	{"http://127.0.0.1:9000", "us-east-1", true, credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "")},
	{"https://files.example.com", "eu-central-1", true, credentials.NewStaticCredentialsProvider("ASIA123", "secret/with+chars", "FwoGZXIvYXdzEJr//////////wEaDM+token=")},
	{"https://files.example.com:443/base", "ap-northeast-2", true, credentials.NewStaticCredentialsProvider("AK", "s", "")},
	{"http://minio.internal:80", "us-west-2", true, credentials.NewStaticCredentialsProvider("AK", "s", "")},
	{"", "eu-west-1", false, credentials.NewStaticCredentialsProvider("AKIA", "secret", "tok")},
	{"", "us-east-2", true, credentials.NewStaticCredentialsProvider("AKIA", "secret", "")},
}

// keyRunes are the characters generated keys are made of: unicode, spaces,
// reserved and percent characters, slashes.
var keyRunes = []rune("abcXYZ019 -_.~/!$&'()*+,;=:@%?#[]\"<>\\^`{|}äöüß日本語😀\u00a0+")

func randomKey(r *rand.Rand) string {
	n := 1 + r.IntN(60)
	if r.IntN(20) == 0 {
		n = 300 + r.IntN(400) // long keys
	}
	var b strings.Builder
	for range n {
		b.WriteRune(keyRunes[r.IntN(len(keyRunes))])
	}
	return b.String()
}

func randomText(r *rand.Rand) string {
	alphabet := []rune("abc XYZ;=\"'/ü日*%\t")
	var b strings.Builder
	for range 1 + r.IntN(30) {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// sdkURL presigns the same request with aws-sdk-go-v2.
func sdkURL(t testing.TB, st setup, at time.Time, req *Request) string {
	t.Helper()
	p := sdkPresigner(st, at)
	ctx := context.Background()
	exp := s3.WithPresignExpires(req.Expires)
	var (
		out *v4RequestURL
		err error
	)
	switch req.Op {
	case "GetObject":
		in := &s3.GetObjectInput{Bucket: &req.Bucket, Key: &req.Key}
		if req.ResponseContentDisposition != "" {
			in.ResponseContentDisposition = aws.String(req.ResponseContentDisposition)
		}
		out, err = wrap(p.PresignGetObject(ctx, in, exp))
	case "PutObject":
		in := &s3.PutObjectInput{Bucket: &req.Bucket, Key: &req.Key, Metadata: req.Metadata}
		if req.ContentType != "" {
			in.ContentType = aws.String(req.ContentType)
		}
		if req.ContentLength > 0 {
			in.ContentLength = aws.Int64(req.ContentLength)
		}
		out, err = wrap(p.PresignPutObject(ctx, in, exp))
	case "UploadPart":
		out, err = wrap(p.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: &req.Bucket, Key: &req.Key, UploadId: &req.UploadID, PartNumber: aws.Int32(req.PartNumber)}, exp))
	}
	if err != nil {
		t.Fatalf("sdk presign: %v", err)
	}
	return out.URL
}

type v4RequestURL struct{ URL string }

func wrap(r *v4.PresignedHTTPRequest, err error) (*v4RequestURL, error) {
	if err != nil {
		return nil, err
	}
	return &v4RequestURL{URL: r.URL}, nil
}

func randomRequest(r *rand.Rand) *Request {
	req := &Request{Bucket: []string{"filegate", "my-bucket-01", "abc"}[r.IntN(3)], Key: randomKey(r), Expires: time.Duration(1+r.IntN(604800)) * time.Second}
	switch r.IntN(3) {
	case 0:
		req.Method, req.Op = "GET", "GetObject"
		if r.IntN(2) == 0 {
			req.ResponseContentDisposition = "attachment; filename*=utf-8''" + randomText(r)
		}
	case 1:
		req.Method, req.Op = "PUT", "PutObject"
		req.ContentLength = int64(r.IntN(3)) * int64(r.IntN(1<<30))
		if r.IntN(3) > 0 {
			req.ContentType = []string{"image/png", "text/plain; charset=utf-8", "application/octet-stream", "  spaced   type  "}[r.IntN(4)]
		}
		if r.IntN(2) == 0 {
			req.Metadata = map[string]string{"album": randomText(r), "b-2": "x  y", "zz": "v"}
		}
	case 2:
		req.Method, req.Op = "PUT", "UploadPart"
		req.PartNumber = int32(1 + r.IntN(10000))
		req.UploadID = randomKey(r)
	}
	return req
}

// presign signs req with a new Signer for st.
func presign(t testing.TB, st setup, req *Request, at time.Time) string {
	t.Helper()
	s, err := New(st.creds, st.region, st.endpoint, st.pathStyle)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Presign(context.Background(), req, at)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestMatchesSDK compares thousands of generated requests, byte for byte.
func TestMatchesSDK(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 4000
	if testing.Short() {
		n = 500
	}
	for i := range n {
		st := setups[i%len(setups)]
		at := time.Date(2026, time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
		req := randomRequest(r)
		got := presign(t, st, req, at)
		if want := sdkURL(t, st, at, req); got != want {
			t.Fatalf("case %d (%+v, %+v):\n got %s\nwant %s", i, st.endpoint, req, got, want)
		}
	}
}

func TestKeyCacheRefreshes(t *testing.T) {
	creds := &rotating{c: aws.Credentials{AccessKeyID: "A1", SecretAccessKey: "s1", SessionToken: "t1"}}
	s, _ := New(creds, "us-east-1", "http://127.0.0.1:9000", true)
	req := &Request{Method: "GET", Op: "GetObject", Bucket: "b", Key: "k", Expires: time.Minute}
	day1 := time.Date(2026, 1, 1, 23, 59, 0, 0, time.UTC)
	for _, step := range []struct {
		at     time.Time
		rotate bool
	}{{day1, false}, {day1.Add(2 * time.Minute), false}, {day1.Add(3 * time.Minute), true}} {
		if step.rotate {
			creds.c = aws.Credentials{AccessKeyID: "A2", SecretAccessKey: "s2", SessionToken: "t2"}
		}
		got, _ := s.Presign(context.Background(), req, step.at)
		want := sdkURL(t, setup{"http://127.0.0.1:9000", "us-east-1", true, credentials.StaticCredentialsProvider{Value: creds.c}}, step.at, req)
		if got != want {
			t.Fatalf("at %v rotate=%v:\n got %s\nwant %s", step.at, step.rotate, got, want)
		}
	}
}

type rotating struct{ c aws.Credentials }

// TestKeyCacheThroughCredentialsCache: credentials that never expire are
// not asked for again, but a new date still derives a new key; credentials
// that expire are asked for on every signature, so a rotation the cache
// sees is used at once.
func TestKeyCacheThroughCredentialsCache(t *testing.T) {
	req := &Request{Method: "GET", Op: "GetObject", Bucket: "b", Key: "k", Expires: time.Minute}
	day1 := time.Date(2026, 1, 1, 23, 59, 0, 0, time.UTC)
	static := aws.Credentials{AccessKeyID: "A1", SecretAccessKey: "s1"}
	s, _ := New(aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: static}), "us-east-1", "http://127.0.0.1:9000", true)
	for _, at := range []time.Time{day1, day1.Add(time.Minute), day1.Add(2 * time.Minute)} {
		got, _ := s.Presign(context.Background(), req, at)
		if want := sdkURL(t, setup{"http://127.0.0.1:9000", "us-east-1", true, credentials.StaticCredentialsProvider{Value: static}}, at, req); got != want {
			t.Fatalf("static credentials at %v:\n got %s\nwant %s", at, got, want)
		}
	}
	expiring := &rotating{c: aws.Credentials{AccessKeyID: "A1", SecretAccessKey: "s1", SessionToken: "t1", CanExpire: true, Expires: day1.Add(365 * 24 * time.Hour)}}
	cache := aws.NewCredentialsCache(expiring)
	s, _ = New(cache, "us-east-1", "http://127.0.0.1:9000", true)
	for _, rotate := range []bool{false, true} {
		if rotate {
			expiring.c.AccessKeyID, expiring.c.SecretAccessKey, expiring.c.SessionToken = "A2", "s2", "t2"
			cache.Invalidate()
		}
		got, _ := s.Presign(context.Background(), req, day1)
		if want := sdkURL(t, setup{"http://127.0.0.1:9000", "us-east-1", true, credentials.StaticCredentialsProvider{Value: expiring.c}}, day1, req); got != want {
			t.Fatalf("expiring credentials, rotated %v:\n got %s\nwant %s", rotate, got, want)
		}
	}
}

func TestAppendAmzDate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		at := time.Unix(rng.Int64N(253402300799-(-30610224000))+(-30610224000), 0).In(time.FixedZone("x", 3600*(rng.IntN(27)-13)))
		if got, want := string(appendAmzDate(nil, at)), at.UTC().Format("20060102T150405Z"); got != want {
			t.Fatalf("%v: %s, want %s", at, got, want)
		}
	}
}

func (r *rotating) Retrieve(context.Context) (aws.Credentials, error) { return r.c, nil }

func TestRefusesBadExpiry(t *testing.T) {
	s, _ := New(setups[0].creds, "us-east-1", "http://x", true)
	for _, d := range []time.Duration{0, -1, MaxExpires + time.Second} {
		if _, err := s.Presign(context.Background(), &Request{Method: "GET", Bucket: "b", Key: "k", Expires: d}, time.Now()); err == nil {
			t.Errorf("expiry %v accepted", d)
		}
	}
}

// FuzzMatchesSDK: for any key, disposition and upload id, the URL is the SDK's.
func FuzzMatchesSDK(f *testing.F) {
	f.Add("a/b c", "attachment", "id", uint16(1))
	f.Add("日本/%2e%2e/x", "", "", uint16(7))
	f.Fuzz(func(t *testing.T, key, disp, uploadID string, n uint16) {
		if key == "" {
			return
		}
		st := setups[int(n)%len(setups)]
		at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		req := &Request{Method: "GET", Op: "GetObject", Bucket: "filegate", Key: key, Expires: time.Duration(1+int(n)) * time.Second, ResponseContentDisposition: disp}
		if uploadID != "" {
			req = &Request{Method: "PUT", Op: "UploadPart", Bucket: "filegate", Key: key, Expires: time.Minute, UploadID: uploadID, PartNumber: int32(1 + int(n)%10000)}
		}
		s, _ := New(st.creds, st.region, st.endpoint, st.pathStyle)
		got, err := s.Presign(context.Background(), req, at)
		if err != nil {
			t.Fatal(err)
		}
		if want := sdkURL(t, st, at, req); got != want {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// sdkPost presigns the same POST policy with aws-sdk-go-v2.
func sdkPost(t testing.TB, st setup, at time.Time, bucket, key string, conds []Condition, exp time.Duration) (string, map[string]string) {
	t.Helper()
	var sdkConds []any
	for _, c := range conds {
		switch c.Op {
		case "eq":
			sdkConds = append(sdkConds, map[string]string{c.Field: c.Value})
		case "starts-with":
			sdkConds = append(sdkConds, []any{"starts-with", "$" + c.Field, c.Value})
		case "content-length-range":
			sdkConds = append(sdkConds, []any{"content-length-range", c.Min, c.Max})
		}
	}
	client := s3.New(s3.Options{Region: st.region, Credentials: st.creds, UsePathStyle: st.pathStyle, BaseEndpoint: func() *string {
		if st.endpoint == "" {
			return nil
		}
		return aws.String(st.endpoint)
	}()})
	p := s3.NewPresignClient(client)
	out, err := p.PresignPostObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key}, func(o *s3.PresignPostOptions) {
		o.Expires = exp
		o.Conditions = sdkConds
		o.PostPresigner = fixedPost{inner: o.PostPresigner, at: at, exp: exp}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.URL, out.Values
}

// fixedPost pins the SDK's POST signer to a signing time; the SDK derives
// the expiration from the wall clock before calling it, so that is pinned too.
type fixedPost struct {
	inner s3.PresignPost
	at    time.Time
	exp   time.Duration
}

func (f fixedPost) PresignPost(c aws.Credentials, bucket, key, region, service string, _ time.Time, conds []any, _ time.Time, opts ...func(*v4.SignerOptions)) (map[string]string, error) {
	return f.inner.PresignPost(c, bucket, key, region, service, f.at, conds, f.at.Add(f.exp).UTC(), opts...)
}

func TestPostMatchesSDK(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		st := setups[i%len(setups)]
		at := time.Date(2026, 5, 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
		exp := time.Duration(1+r.IntN(86400)) * time.Second
		key := randomKey(r)
		var conds []Condition
		if r.IntN(2) == 0 {
			conds = append(conds, Condition{Op: "starts-with", Field: "key", Value: key})
		}
		if r.IntN(2) == 0 {
			conds = append(conds, Condition{Op: "starts-with", Field: "Content-Type", Value: "image/"})
		}
		if r.IntN(2) == 0 {
			conds = append(conds, Condition{Op: "content-length-range", Min: int64(r.IntN(10)), Max: int64(r.IntN(1 << 30))})
		}
		if r.IntN(2) == 0 {
			conds = append(conds, Condition{Op: "eq", Field: "x-amz-meta-tag", Value: randomText(r)}, Condition{Op: "eq", Field: "x-amz-server-side-encryption", Value: "AES256"})
		}
		s, _ := New(st.creds, st.region, st.endpoint, st.pathStyle)
		got, err := s.PresignPost(context.Background(), "filegate", key, conds, exp, at)
		if err != nil {
			t.Fatal(err)
		}
		wantURL, want := sdkPost(t, st, at, "filegate", key, conds, exp)
		if got.URL != wantURL {
			t.Fatalf("case %d: URL %s, want %s", i, got.URL, wantURL)
		}
		if len(got.Fields) != len(want) {
			t.Fatalf("case %d: fields %v, want %v", i, got.Fields, want)
		}
		for k, v := range want {
			if got.Fields[k] != v {
				t.Fatalf("case %d: field %s = %q, want %q", i, k, got.Fields[k], v)
			}
		}
	}
}

// TestConcurrentSigning signs from many goroutines while credentials rotate
// and the date changes; run with -race.
func TestConcurrentSigning(t *testing.T) {
	creds := &lockedCreds{c: aws.Credentials{AccessKeyID: "A", SecretAccessKey: "s"}}
	s, _ := New(creds, "us-east-1", "http://127.0.0.1:9000", true)
	req := &Request{Method: "GET", Op: "GetObject", Bucket: "b", Key: "k", Expires: time.Minute}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				at := day.Add(time.Duration((g+i)%3) * 24 * time.Hour)
				if _, err := s.Presign(context.Background(), req, at); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 100 {
		creds.set(aws.Credentials{AccessKeyID: "A", SecretAccessKey: "s" + string(rune('a'+i%26))})
	}
	for range 8 {
		<-done
	}
	// After the churn, a signature is still the SDK's for the current credentials.
	final := creds.get()
	got, _ := s.Presign(context.Background(), req, day)
	if want := sdkURL(t, setup{"http://127.0.0.1:9000", "us-east-1", true, credentials.StaticCredentialsProvider{Value: final}}, day, req); got != want {
		t.Fatalf("after concurrent rotation:\n got %s\nwant %s", got, want)
	}
}

type lockedCreds struct {
	mu sync.Mutex
	c  aws.Credentials
}

func (l *lockedCreds) Retrieve(context.Context) (aws.Credentials, error) { return l.get(), nil }
func (l *lockedCreds) get() aws.Credentials {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c
}
func (l *lockedCreds) set(c aws.Credentials) { l.mu.Lock(); l.c = c; l.mu.Unlock() }

// TestBucketQueryMatchesSDK: a bucket-level GET with query parameters
// (ListObjectsV2) carries the signature aws-sdk-go-v2's v4 signer computes
// for the same request, on every setup (path style and virtual hosts,
// session tokens, base paths).
func TestBucketQueryMatchesSDK(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 600 {
		st := setups[i%len(setups)]
		at := time.Date(2026, 3, 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
		var q []Param
		if r.IntN(2) == 0 {
			q = append(q, Param{"continuation-token", randomKey(r)})
		}
		if r.IntN(2) == 0 {
			q = append(q, Param{"delimiter", "/"})
		}
		q = append(q, Param{"encoding-type", "url"}, Param{"list-type", "2"})
		if r.IntN(2) == 0 {
			q = append(q, Param{"max-keys", "1000"})
		}
		q = append(q, Param{"prefix", randomKey(r)})
		req := &Request{Method: "GET", Bucket: []string{"filegate", "my-bucket-01"}[r.IntN(2)], Query: q, Expires: time.Duration(1+r.IntN(3600)) * time.Second}
		got := presign(t, st, req, at)
		u, err := url.Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		if wantPath := "/" + req.Bucket; (st.pathStyle || st.endpoint != "") && !strings.HasSuffix(u.Path, wantPath) || !st.pathStyle && st.endpoint == "" && u.Path != "/" {
			t.Fatalf("case %d: path %q addresses no bucket", i, u.Path)
		}
		vals := u.Query()
		sig := vals.Get("X-Amz-Signature")
		vals.Del("X-Amz-Signature")
		for _, p := range q {
			if vals.Get(p.Name) != p.Value {
				t.Fatalf("case %d: %s is %q in %s, want %q", i, p.Name, vals.Get(p.Name), got, p.Value)
			}
		}
		// The SDK signs the same URL without its signature.
		plain := *u
		plain.RawQuery = ""
		for _, p := range q {
			if plain.RawQuery != "" {
				plain.RawQuery += "&"
			}
			plain.RawQuery += url.QueryEscape(p.Name) + "=" + url.QueryEscape(p.Value)
		}
		hr, _ := http.NewRequest("GET", plain.String(), nil)
		hr.URL.RawPath = plain.EscapedPath()
		q2 := hr.URL.Query()
		q2.Set("X-Amz-Expires", strconv.Itoa(int(req.Expires/time.Second)))
		hr.URL.RawQuery = q2.Encode()
		creds, _ := st.creds.Retrieve(context.Background())
		signed, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).PresignHTTP(context.Background(), creds, hr, "UNSIGNED-PAYLOAD", "s3", st.region, at)
		if err != nil {
			t.Fatal(err)
		}
		su, _ := url.Parse(signed)
		if want := su.Query().Get("X-Amz-Signature"); sig != want || su.Path != u.Path || su.Host != u.Host {
			t.Fatalf("case %d: %s\n signature %s, the SDK's %s (%s)", i, got, sig, want, signed)
		}
	}
}

func TestRefusesBadQuery(t *testing.T) {
	s, _ := New(setups[0].creds, "us-east-1", "http://x", true)
	for _, q := range [][]Param{
		{{"prefix", "a"}, {"list-type", "2"}}, // out of order
		{{"list-type", "2"}, {"list-type", "2"}},
		{{"List-Type", "2"}},
		{{"x-id", "ListObjectsV2"}},
		{{"a b", "c"}},
		{{"", "c"}},
	} {
		if _, err := s.Presign(context.Background(), &Request{Method: "GET", Bucket: "b", Query: q, Expires: time.Minute}, time.Now()); err == nil {
			t.Errorf("query %q accepted", q)
		}
	}
	if _, err := s.Presign(context.Background(), &Request{Method: "GET", Bucket: "b", Key: "k", UploadID: "u", Query: []Param{{"prefix", "a"}}, Expires: time.Minute}, time.Now()); err == nil {
		t.Error("query parameters beside an upload id accepted")
	}
}
