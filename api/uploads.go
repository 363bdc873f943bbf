package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/telemetry"
	"github.com/filegate/filegate/upload"
)

type uploadRequestJSON struct {
	Key         string            `json:"key"`
	Size        *int64            `json:"size"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	ExpiresIn   expiry            `json:"expires_in,omitzero"`
	Via         string            `json:"via,omitempty"`
}

type partURLJSON struct {
	Number int32  `json:"number"`
	URL    string `json:"url"`
	Size   int64  `json:"size"`
}

type uploadJSON struct {
	Type      string            `json:"type"` // "put" or "multipart"
	Key       string            `json:"key"`
	Method    string            `json:"method,omitempty"`
	URL       string            `json:"url,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	UploadID  string            `json:"upload_id,omitempty"`
	PartSize  int64             `json:"part_size,omitempty"`
	PartCount int32             `json:"part_count,omitempty"`
	Parts     []partURLJSON     `json:"parts,omitempty"`
	ExpiresAt time.Time         `json:"expires_at"`
}

func partURLs(ps []upload.PartURL) []partURLJSON {
	out := make([]partURLJSON, len(ps))
	for i, p := range ps {
		out[i] = partURLJSON{Number: p.Number, URL: p.URL, Size: p.Size}
	}
	return out
}

func handleUploadStart(u *upload.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const op = "api.uploadStart"
		var in uploadRequestJSON
		if err := decode(w, r, &in); err != nil {
			writeError(w, r, log, err)
			return
		}
		if in.Size == nil {
			writeError(w, r, log, invalid(op, "invalid_size", "size is required (bytes)"))
			return
		}
		b, err := u.Start(r.Context(), Principal(r.Context()), upload.Request{
			Key: in.Key, Size: *in.Size, ContentType: in.ContentType, Metadata: in.Metadata, ExpiresIn: in.ExpiresIn.d, Via: in.Via,
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if b.Put != nil {
			m.Grants.WithLabelValues("upload_put").Inc()
			WriteJSON(w, http.StatusOK, uploadJSON{Type: "put", Key: b.Key, Method: b.Put.Method, URL: b.Put.URL, Headers: b.Put.Header, ExpiresAt: b.Put.Expires.UTC()})
			return
		}
		mp := b.Multipart
		m.Grants.WithLabelValues("upload_multipart").Inc()
		WriteJSON(w, http.StatusCreated, uploadJSON{Type: "multipart", Key: b.Key, UploadID: mp.ID, PartSize: mp.PartSize,
			PartCount: mp.PartCount, Parts: partURLs(mp.Parts), ExpiresAt: mp.Expires.UTC()})
	})
}

type signPartsJSON struct {
	Numbers   []int32 `json:"numbers"`
	ExpiresIn expiry  `json:"expires_in,omitzero"`
}

type partsJSON struct {
	Parts     []partURLJSON `json:"parts"`
	ExpiresAt time.Time     `json:"expires_at"`
}

func handleUploadParts(u *upload.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in signPartsJSON
		if err := decode(w, r, &in); err != nil {
			writeError(w, r, log, err)
			return
		}
		parts, expires, err := u.SignParts(r.Context(), Principal(r.Context()), r.PathValue("id"), in.Numbers, in.ExpiresIn.d)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		m.Grants.WithLabelValues("upload_part").Add(float64(len(parts)))
		WriteJSON(w, http.StatusOK, partsJSON{Parts: partURLs(parts), ExpiresAt: expires.UTC()})
	})
}

type storedPartJSON struct {
	Number int32  `json:"number"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

type uploadStatusJSON struct {
	UploadID  string           `json:"upload_id"`
	Key       string           `json:"key"`
	Size      int64            `json:"size"`
	PartSize  int64            `json:"part_size"`
	PartCount int32            `json:"part_count"`
	Parts     []storedPartJSON `json:"parts"`
}

func handleUploadStatus(u *upload.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := u.Status(r.Context(), Principal(r.Context()), r.PathValue("id"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := uploadStatusJSON{UploadID: st.ID, Key: st.Key, Size: st.Size, PartSize: st.PartSize, PartCount: st.PartCount, Parts: make([]storedPartJSON, len(st.Parts))}
		for i, p := range st.Parts {
			out.Parts[i] = storedPartJSON{Number: p.Number, ETag: p.ETag, Size: p.Size}
		}
		WriteJSON(w, http.StatusOK, out)
	})
}

type completeJSON struct {
	Parts []struct {
		Number int32  `json:"number"`
		ETag   string `json:"etag"`
	} `json:"parts"`
}

type objectInfoJSON struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag"`
}

func handleUploadComplete(u *upload.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in completeJSON
		if err := decode(w, r, &in); err != nil {
			writeError(w, r, log, err)
			return
		}
		parts := make([]filegate.Part, len(in.Parts))
		for i, p := range in.Parts {
			parts[i] = filegate.Part{Number: p.Number, ETag: p.ETag}
		}
		info, err := u.Complete(r.Context(), Principal(r.Context()), r.PathValue("id"), parts)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		WriteJSON(w, http.StatusOK, objectInfoJSON{Key: info.Key, Size: info.Size, ETag: info.ETag})
	})
}

func handleUploadAbort(u *upload.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := u.Abort(r.Context(), Principal(r.Context()), r.PathValue("id")); err != nil {
			writeError(w, r, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type adminUploadJSON struct {
	Key       string    `json:"key"`
	UploadID  string    `json:"upload_id"`
	Initiated time.Time `json:"initiated"`
}

// handleAdminUploads lists every multipart upload in progress (admins).
func handleAdminUploads(u *upload.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ups, err := u.InProgress(r.Context(), Principal(r.Context()), r.URL.Query().Get("prefix"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := struct {
			Uploads []adminUploadJSON `json:"uploads"`
		}{Uploads: make([]adminUploadJSON, len(ups))}
		for i, up := range ups {
			out.Uploads[i] = adminUploadJSON{Key: up.Key, UploadID: up.ID, Initiated: up.Initiated.UTC()}
		}
		WriteJSON(w, http.StatusOK, out)
	})
}

// handleAdminAbort aborts any multipart upload by key and upload id (admins).
func handleAdminAbort(u *upload.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := u.AbortAny(r.Context(), Principal(r.Context()), q.Get("key"), q.Get("upload_id")); err != nil {
			writeError(w, r, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type formRequestJSON struct {
	Key                  string            `json:"key,omitempty"`
	KeyPrefix            string            `json:"key_prefix,omitempty"`
	ContentType          string            `json:"content_type,omitempty"`
	ContentTypePrefix    string            `json:"content_type_prefix,omitempty"`
	MinSize              int64             `json:"min_size,omitempty"`
	MaxSize              int64             `json:"max_size,omitempty"`
	Metadata             map[string]string `json:"metadata,omitempty"`
	ServerSideEncryption string            `json:"server_side_encryption,omitempty"`
	ExpiresIn            expiry            `json:"expires_in,omitzero"`
}

type formJSON struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Fields    map[string]string `json:"fields"`
	ExpiresAt time.Time         `json:"expires_at"`
}

func handleForm(u *upload.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in formRequestJSON
		if err := decode(w, r, &in); err != nil {
			writeError(w, r, log, err)
			return
		}
		post, err := u.Form(r.Context(), Principal(r.Context()), upload.FormRequest{
			Key: in.Key, KeyPrefix: in.KeyPrefix, ContentType: in.ContentType, ContentTypePrefix: in.ContentTypePrefix,
			MinSize: in.MinSize, MaxSize: in.MaxSize, Metadata: in.Metadata, SSE: in.ServerSideEncryption, ExpiresIn: in.ExpiresIn.d,
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		m.Grants.WithLabelValues("form").Inc()
		WriteJSON(w, http.StatusOK, formJSON{URL: post.URL, Method: "POST", Fields: post.Fields, ExpiresAt: post.Expires.UTC()})
	})
}
