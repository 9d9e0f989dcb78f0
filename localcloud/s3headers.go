package localcloud

import "net/http"

// storedCacheControl carries an object's Cache-Control through gofakes3, which
// keeps only Content-Type, Content-Disposition, Content-Encoding and x-amz-*
// headers of a PUT. S3 keeps Cache-Control and returns it on GET and HEAD, and the
// CDN's caching depends on it.
const storedCacheControl = "X-Amz-Localcloud-Cache-Control"

// keepCacheControl stashes a PUT's Cache-Control where gofakes3 stores it. It
// runs after the signature check, which saw the request as the client sent it.
func keepCacheControl(r *http.Request) {
	r.Header.Del(storedCacheControl) // a client may not set it directly
	if r.Method == http.MethodPut {
		if cc := r.Header.Get("Cache-Control"); cc != "" {
			r.Header.Set(storedCacheControl, cc)
		}
	}
}

// restoreCacheControl turns the stashed header back into Cache-Control on the way out.
func restoreCacheControl(h http.Header) {
	if cc := h.Get(storedCacheControl); cc != "" {
		h.Set("Cache-Control", cc)
	}
	h.Del(storedCacheControl)
}
