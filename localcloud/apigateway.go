package localcloud

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/imagepipe/imagepipe/localcloud/oidc"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// APIGateway fronts the API function as an HTTP API with payload format 2.0 does:
// it picks the route, runs the JWT authorizer on authorized routes, builds the
// events.APIGatewayV2HTTPRequest (with the verified claims in its request
// context) and invokes the function through the same adapter functions/api uses,
// so the function reads the caller exactly as on AWS.
type APIGateway struct {
	Routes []settings.Route
	// Authorizer checks tokens on authorized routes (nil only with no such routes).
	Authorizer *oidc.Authorizer
	Function   http.Handler
	Log        *slog.Logger

	once    sync.Once
	adapter *httpadapter.HandlerAdapterV2
}

// maxPayload is API Gateway's request payload limit.
const maxPayload = 10 << 20

func (g *APIGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.once.Do(func() { g.adapter = httpadapter.NewV2(g.Function) })
	route := matchRoute(g.Routes, r.Method, r.URL.Path)
	if route == nil {
		gatewayMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	ev, ok := g.event(w, r, route)
	if !ok {
		return
	}
	if route.Authorized {
		verified, refusal := g.Authorizer.Check(r.Context(), r.Header.Get("Authorization"), route.Scopes)
		if refusal != nil {
			// API Gateway answers these itself; HTTP APIs cannot change the body,
			// which is why the API's own JSON error shape is sent beside its message.
			w.Header().Set("WWW-Authenticate", refusal.WWWAuthenticate())
			gatewayRefusal(w, refusal)
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: verified.Claims, Scopes: verified.Scopes},
		}
		if len(route.Scopes) == 0 {
			ev.RequestContext.Authorizer.JWT.Scopes = nil // API Gateway fills them only for scoped routes
		}
	}
	resp, err := g.adapter.ProxyWithContext(r.Context(), ev)
	if err != nil {
		g.Log.Error("api function failed", "err", err)
		gatewayMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	writeGatewayResponse(w, resp)
}

// event builds the payload 2.0 event of r, as API Gateway does.
func (g *APIGateway) event(w http.ResponseWriter, r *http.Request, route *settings.Route) (events.APIGatewayV2HTTPRequest, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		gatewayMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return events.APIGatewayV2HTTPRequest{}, false
	}
	routeKey := route.Method + " " + route.Path
	if route.Path == settings.DefaultRoute {
		routeKey = settings.DefaultRoute
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: routeKey, RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: routeKey, Stage: "$default", RequestID: randomID(), DomainName: r.Host,
			Time: now.UTC().Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: ip, UserAgent: r.UserAgent(),
			},
		},
	}
	for name, values := range r.Header {
		if strings.EqualFold(name, "Cookie") {
			for _, c := range values {
				for part := range strings.SplitSeq(c, ";") {
					if part = strings.TrimSpace(part); part != "" {
						ev.Cookies = append(ev.Cookies, part)
					}
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	ev.Headers["host"] = r.Host
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, v := range q {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	if len(body) > 0 {
		if textual(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev, true
}

func textual(ctype string) bool {
	t, _, _ := mime.ParseMediaType(ctype)
	return strings.HasPrefix(t, "text/") || t == "application/json" || t == "application/x-www-form-urlencoded"
}

func writeGatewayResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, bytes.NewReader(body))
}

// gatewayMessage is API Gateway's own answer shape, {"message": "..."}.
func gatewayMessage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"message":`+strconv.Quote(message)+`}`)
}

// gatewayRefusal answers a refused token with API Gateway's message and, beside
// it, the API's error shape, so clients of either read a reason.
func gatewayRefusal(w http.ResponseWriter, r *oidc.Refusal) {
	message, code := "Unauthorized", "unauthorized"
	if r.Status == http.StatusForbidden {
		message, code = "Forbidden", "insufficient_scope"
	}
	detail := r.Description
	if detail == "" {
		detail = "sign in: send an access token as Authorization: Bearer TOKEN"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(r.Status)
	_, _ = io.WriteString(w, `{"message":`+strconv.Quote(message)+`,"error":{"code":`+strconv.Quote(code)+`,"message":`+strconv.Quote(detail)+`}}`)
}

// matchRoute picks the route API Gateway would: the most specific path (an exact
// path over a greedy one, a longer greedy prefix over a shorter), a route for the
// method over ANY, and $default when nothing else matches.
func matchRoute(routes []settings.Route, method, path string) *settings.Route {
	var best *settings.Route
	bestScore := -1
	for i := range routes {
		rt := &routes[i]
		if rt.Method != "ANY" && rt.Method != method {
			continue
		}
		score := -1
		switch {
		case rt.Path == settings.DefaultRoute:
			score = 0
		case strings.HasSuffix(rt.Path, "/{proxy+}"):
			prefix := strings.TrimSuffix(rt.Path, "{proxy+}")
			if strings.HasPrefix(path, prefix) && len(path) > len(prefix) {
				score = 10 + len(prefix)*2
			}
		case rt.Path == path:
			score = 1 << 20
		}
		if score < 0 {
			continue
		}
		if rt.Method != "ANY" {
			score++
		}
		if score > bestScore {
			best, bestScore = rt, score
		}
	}
	return best
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
