package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/harness"
)

func TestCompatSeedFlows(t *testing.T) {
	t.Parallel()
	for _, name := range harness.Stores(t) {
		t.Run(name, func(t *testing.T) { testCompatSeedFlows(t, harness.Start(t, name, "--compat")) })
	}
}

func testCompatSeedFlows(t *testing.T, e *harness.Env) {
	card := jpegBytes(t, 320, 200)
	png := harness.RandomBytes(5000)
	e.Put("cyndaquil.jpg", card)
	e.Put("ra.png", png)

	// 000 lambda-zipper: curl -s -X POST -d "@images.json" -H "Content-Type: application/json" URL
	images := []byte(`{"Images":[{"Name":"cyndaquil.jpg"},{"Name":"ra.png"}]}`)
	for _, path := range []string{"/", "/zip"} {
		status, h, body := e.Raw(e.Admin, "POST", path, "application/json", images)
		text := string(body)
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !strings.HasPrefix(text, "Download your ZIP file (expires in 90s): http") {
			t.Fatalf("POST %s: %d %q", path, status, text)
		}
		url := strings.TrimSpace(strings.TrimPrefix(text, "Download your ZIP file (expires in 90s): "))
		_, zipped, _ := harness.Fetch(t, url)
		files, _, _ := readZip(t, zipped)
		if !bytes.Equal(files["cyndaquil.jpg"], card) || !bytes.Equal(files["ra.png"], png) {
			t.Errorf("POST %s: archive holds %v", path, keysOf(files))
		}
	}
	before, _ := e.BundleDebris()
	status, _, body := e.Raw(e.Admin, "POST", "/zip", "application/json", []byte(`{"Images":[{"Name":"cyndaquil.jpg"},{"Name":"missingno.png"}]}`))
	if status != 404 || !strings.Contains(string(body), "missingno.png") {
		t.Errorf("missing image: %d %s", status, body)
	}
	if after, ups := e.BundleDebris(); after != before || ups != 0 {
		t.Errorf("a failed zip wrote %d objects, %d uploads", after-before, ups)
	}

	// 001 API Gateway download, with and without a stage prefix.
	for _, stage := range []string{"", "/dev"} {
		status, _, body := e.Raw(e.Admin, "GET", stage+"/list", "", nil)
		var list struct {
			Objects []struct{ File string } `json:"objects"`
		}
		json.Unmarshal(body, &list)
		if status != 200 || len(list.Objects) != 2 || list.Objects[0].File != "cyndaquil.jpg" {
			t.Errorf("GET %s/list: %d %s", stage, status, body)
		}
		for _, c := range []struct {
			query  string
			status int
			body   string
		}{
			{"", 400, `{"error":"Request is incorrect. Please provide valid query parameters."}`},
			{"?other=1", 400, `{"error":"objectKey is required."}`},
			{"?objectKey=", 400, `{"error":"objectKey is required."}`},
			{"?objectKey=nope.jpg", 404, `{"error":"Object name is incorrect or object doesn't exist."}`},
		} {
			status, _, body := e.Raw(e.Admin, "GET", stage+"/download"+c.query, "", nil)
			if status != c.status || strings.TrimSpace(string(body)) != c.body {
				t.Errorf("GET %s/download%s: %d %s, want %d %s", stage, c.query, status, body, c.status, c.body)
			}
		}
		status, _, body = e.Raw(e.Admin, "GET", stage+"/download?objectKey=cyndaquil.jpg", "", nil)
		var dl struct{ URL string }
		json.Unmarshal(body, &dl)
		if status != 200 || !strings.Contains(dl.URL, "X-Amz-Expires=900") {
			t.Fatalf("download: %d %s", status, body)
		}
		if _, got, _ := harness.Fetch(t, dl.URL); !bytes.Equal(got, card) {
			t.Error("download URL does not return the object")
		}
	}
	status, _, body = e.Raw(e.Admin, "GET", "/dev/unknown/route", "", nil)
	if status != 404 || strings.TrimSpace(string(body)) != `{"error":"Resource name is incorrect."}` {
		t.Errorf("unknown route: %d %s", status, body)
	}
	if status, _, _ := e.Raw("", "GET", "/list", "", nil); status != 401 {
		t.Errorf("no token: %d, want 401", status)
	}
	alice := e.Token("alice", "users/alice/", 0, "list", "download")
	if status, _, _ := e.Raw(alice, "GET", "/download?objectKey=cyndaquil.jpg", "", nil); status != 403 {
		t.Errorf("out of scope: %d, want 403", status)
	}

	// 002 serverless meme app: sign, then the seed front end's form, field by field.
	status, h, body := e.Raw(e.Admin, "GET", "/sign-s3-request?filename=meme.jpg", "", nil)
	var signed struct {
		Policy map[string]string `json:"policy"`
	}
	json.Unmarshal(body, &signed)
	p := signed.Policy
	if status != 200 || h.Get("Access-Control-Allow-Origin") != "*" || p["key"] != "static/meme.jpg" || p["base64Policy"] == "" || p["signature"] != p["x-amz-signature"] {
		t.Fatalf("sign-s3-request: %d %s", status, body)
	}
	// The seed's front end, field for field (seed 002, uploadToS3):
	//   formData.append('key', policy.key); ... ('acl', ...), ('Content-Type', file.type),
	//   ('policy', ...), ('x-amz-credential', ...), ('x-amz-algorithm', ...),
	//   ('x-amz-date', ...), ('x-amz-signature', ...),
	//   ('x-amz-server-side-encryption', 'AES256'), ('file', file)
	// and nothing else: no x-amz-meta-tag.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for _, kv := range [][2]string{
		{"key", p["key"]}, {"acl", p["acl"]}, {"Content-Type", "image/jpeg"}, {"policy", p["base64Policy"]},
		{"x-amz-credential", p["x-amz-credential"]}, {"x-amz-algorithm", p["x-amz-algorithm"]}, {"x-amz-date", p["x-amz-date"]},
		{"x-amz-signature", p["x-amz-signature"]}, {"x-amz-server-side-encryption", "AES256"},
	} {
		mw.WriteField(kv[0], kv[1])
	}
	fw, _ := mw.CreateFormFile("file", "meme.jpg")
	fw.Write(card)
	mw.Close()
	resp, err := http.Post(p["url"], mw.FormDataContentType(), &form)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("seed 002 form upload: %d %s", resp.StatusCode, msg)
	}
	if got, _ := e.Object("static/meme.jpg"); !bytes.Equal(got, card) {
		t.Fatal("the form upload did not store the file")
	}
	status, _, body = e.Raw(e.Admin, "POST", "/meme", "application/json",
		[]byte(`{"image":"static/meme.jpg","bucket_address":"https://example-bucket.s3.amazonaws.com","posx":10,"posy":20,"scale":40,"caption":"such meme"}`))
	var meme struct {
		Data string `json:"meme_data"`
		Type string `json:"meme_type"`
	}
	json.Unmarshal(body, &meme)
	raw, _ := base64.StdEncoding.DecodeString(meme.Data)
	if status != 200 || meme.Type != "image/jpeg" {
		t.Fatalf("meme: %d %.200s", status, body)
	}
	if img, err := jpeg.Decode(bytes.NewReader(raw)); err != nil || img.Bounds().Dx() != 320 {
		t.Errorf("meme_data is not the captioned JPEG: %v", err)
	}

	// 003 presigned POST, boto3's shape.
	status, _, body = e.Raw(e.Admin, "POST", "/presigned-post", "application/json", []byte(`{"object_name": "overlay.png"}`))
	var pp formResp
	json.Unmarshal(body, &pp)
	if status != 200 || pp.Fields["key"] != "overlay.png" || pp.Fields["policy"] == "" || pp.Fields["x-amz-signature"] == "" {
		t.Fatalf("presigned-post: %d %s", status, body)
	}
	if status, msg := postForm(t, pp, nil, "", png); status >= 300 {
		t.Fatalf("presigned-post upload: %d %s", status, msg)
	}
	if got, _ := e.Object("overlay.png"); !bytes.Equal(got, png) {
		t.Error("presigned-post upload not stored")
	}

	// 004 download URL, expire_in as a number or a numeric string.
	for _, exp := range []string{`600`, `"600"`} {
		status, _, body = e.Raw(e.Admin, "POST", "/download-url", "application/json", []byte(`{"fileKey":"cyndaquil.jpg","expire_in":`+exp+`}`))
		var du struct{ Result, URL string }
		json.Unmarshal(body, &du)
		if status != 200 || du.Result != "success" || !strings.Contains(du.URL, "X-Amz-Expires=600") {
			t.Fatalf("download-url: %d %s", status, body)
		}
		if _, got, _ := harness.Fetch(t, du.URL); !bytes.Equal(got, card) {
			t.Error("download-url does not return the object")
		}
	}
}

func TestCompatOffByDefault(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	if status, _, _ := e.Raw(e.Admin, "GET", "/list", "", nil); status != 404 {
		t.Errorf("GET /list without --compat: %d, want 404", status)
	}
}
