package api

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/filegate/filegate/caption"
	"github.com/filegate/filegate/telemetry"
)

type captionRequestJSON struct {
	Key         string   `json:"key"`
	Text        string   `json:"text,omitempty"`
	TopText     string   `json:"top_text,omitempty"`
	BottomText  string   `json:"bottom_text,omitempty"`
	X           *coordJS `json:"x,omitempty"`
	Y           *coordJS `json:"y,omitempty"`
	Scale       float64  `json:"scale,omitempty"`
	Align       string   `json:"align,omitempty"`
	Color       string   `json:"color,omitempty"`
	StrokeColor string   `json:"stroke_color,omitempty"`
	OutputKey   string   `json:"output_key,omitempty"`
	Format      string   `json:"format,omitempty"`
	ExpiresIn   expiry   `json:"expires_in,omitzero"`
	Inline      bool     `json:"inline,omitempty"`
}

// coordJS is a position: a number of pixels, or a string such as "50%".
type coordJS string

func (c *coordJS) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = coordJS(s)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*c = coordJS(strconv.FormatFloat(f, 'f', -1, 64))
	return nil
}

func (c *coordJS) value() string {
	if c == nil {
		return ""
	}
	return string(*c)
}

type captionJSON struct {
	Key           string    `json:"key"`
	URL           string    `json:"url"`
	ExpiresAt     time.Time `json:"expires_at"`
	ContentType   string    `json:"content_type"`
	Data          string    `json:"data,omitempty"`
	MissingGlyphs int       `json:"missing_glyphs,omitempty"`
	Note          string    `json:"note,omitempty"`
}

func handleCaption(c *caption.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in captionRequestJSON
		if err := decode(w, r, &in); err != nil {
			writeError(w, r, log, err)
			return
		}
		res, err := c.Caption(r.Context(), Principal(r.Context()), caption.Request{
			Key: in.Key, Text: in.Text, TopText: in.TopText, BottomText: in.BottomText, X: in.X.value(), Y: in.Y.value(),
			Scale: in.Scale, Align: in.Align, Color: in.Color, StrokeColor: in.StrokeColor, OutputKey: in.OutputKey,
			Format: in.Format, ExpiresIn: in.ExpiresIn.d, Inline: in.Inline,
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		m.Grants.WithLabelValues("caption").Inc()
		out := captionJSON{Key: res.Key, URL: res.URL, ExpiresAt: res.ExpiresAt.UTC(), ContentType: res.ContentType, MissingGlyphs: res.MissingGlyphs, Note: res.Note}
		if res.Data != nil {
			out.Data = base64.StdEncoding.EncodeToString(res.Data)
		}
		WriteJSON(w, http.StatusOK, out)
	})
}
