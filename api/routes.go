package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/filegate/filegate"
)

// addRoutes is the whole HTTP surface of filegate in one place.
func addRoutes(mux *http.ServeMux, d Deps) {
	authed := requireAuth(d.Tokens, d.Vouched, nil, d.Tracing, d.Metrics, d.Log)

	mux.Handle("GET /healthz", handleHealth())
	mux.Handle("GET /readyz", handleReady(d.Ready, d.Log))
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /openapi.yaml", handleOpenAPI(filegate.OpenAPI))

	mux.Handle("GET /v1/whoami", authed(handleWhoami(d.Uploads)))
	if d.Sessions != nil {
		mux.Handle("POST /v1/session", authed(handleSessionStart(d.Sessions, d.Log)))
		mux.Handle("DELETE /v1/session", handleSessionEnd())
	}
	if d.Web != nil {
		for _, p := range d.Web.Paths() {
			if p == "/" {
				p = "/{$}"
			}
			mux.Handle("GET "+p, d.Web)
		}
	}
	mux.Handle("GET /v1/objects", authed(handleList(d.Browse, d.Log)))
	mux.Handle("GET /v1/objects/{key...}", authed(handleObjectRedirect(d.Grants, d.Metrics, d.Log)))
	mux.Handle("POST /v1/downloads", authed(handleDownload(d.Grants, d.Metrics, d.Log)))

	mux.Handle("POST /v1/uploads", authed(handleUploadStart(d.Uploads, d.Metrics, d.Log)))
	mux.Handle("GET /v1/uploads/{id}", authed(handleUploadStatus(d.Uploads, d.Log)))
	mux.Handle("DELETE /v1/uploads/{id}", authed(handleUploadAbort(d.Uploads, d.Log)))
	mux.Handle("POST /v1/uploads/{id}/parts", authed(handleUploadParts(d.Uploads, d.Metrics, d.Log)))
	mux.Handle("POST /v1/uploads/{id}/complete", authed(handleUploadComplete(d.Uploads, d.Log)))
	mux.Handle("GET /v1/admin/uploads", authed(handleAdminUploads(d.Uploads, d.Log)))
	mux.Handle("DELETE /v1/admin/uploads", authed(handleAdminAbort(d.Uploads, d.Log)))
	mux.Handle("POST /v1/forms", authed(handleForm(d.Uploads, d.Metrics, d.Log)))

	mux.Handle("POST /v1/bundles", authed(handleBundle(d.Bundles, d.Metrics, d.Log)))
	if d.NoStreaming {
		mux.Handle("POST /v1/bundles/stream", authed(bundleHandler(d.Bundles, d.Metrics, d.Log,
			"responses here cannot stream (API Gateway carries at most 6 MB): the zip was stored and is given as a link")))
	} else {
		mux.Handle("POST /v1/bundles/stream", authed(handleBundleStream(d.Bundles, d.Log)))
	}
	mux.Handle("GET /v1/bundles/{id}", authed(handleBundleJob(d.Bundles, d.Log)))

	mux.Handle("POST /v1/captions", authed(handleCaption(d.Captions, d.Metrics, d.Log)))
	mux.Handle("POST /v1/credentials", authed(handleCredentials(d.Credentials, d.Metrics, d.Log)))
	mux.Handle("POST /v1/cookies", authed(handleCookies(d.Grants, d.Metrics, d.Log)))
}
