package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/delivery"
)

// distribution returns the stack's one distribution's config.
func (s *synthesized) distribution(t *testing.T) (string, map[string]any) {
	t.Helper()
	dists := s.ofType("AWS::CloudFront::Distribution")
	if len(dists) != 1 {
		t.Fatalf("%d distributions, want 1", len(dists))
	}
	for id, d := range dists {
		return id, d.Properties["DistributionConfig"].(map[string]any)
	}
	return "", nil
}

func TestCDNDistribution(t *testing.T) {
	s := defaults(t)
	cdn := s.stack.CDN
	if cdn == nil {
		t.Fatal("the default settings have a CDN, but the stack has none")
	}
	distID, cfg := s.distribution(t)
	if cfg["HttpVersion"] != "http2and3" || cfg["Enabled"] != true || cfg["IPV6Enabled"] != true {
		t.Errorf("HttpVersion %v, Enabled %v, IPv6 %v", cfg["HttpVersion"], cfg["Enabled"], cfg["IPV6Enabled"])
	}
	if _, ok := cfg["Aliases"]; ok {
		t.Errorf("aliases %v without cdnDomainName", cfg["Aliases"])
	}
	if _, ok := cfg["PriceClass"]; ok {
		t.Errorf("price class %v without cdnPriceClass", cfg["PriceClass"])
	}
	if _, ok := cfg["CacheBehaviors"]; ok {
		t.Errorf("extra cache behaviors %v: everything must go through the negotiating function", cfg["CacheBehaviors"])
	}
	b := cfg["DefaultCacheBehavior"].(map[string]any)
	if b["ViewerProtocolPolicy"] != "redirect-to-https" || b["Compress"] != false {
		t.Errorf("viewer protocol %v, compress %v", b["ViewerProtocolPolicy"], b["Compress"])
	}
	if m, _ := json.Marshal(b["AllowedMethods"]); string(m) != `["GET","HEAD"]` {
		t.Errorf("allowed methods %s", m)
	}
	if got, want := b["CachePolicyId"], ref(s.id(cdn.CachePolicy)); !jsonEqual(got, want) {
		t.Errorf("cache policy %v, want %v", got, want)
	}
	if got, want := b["ResponseHeadersPolicyId"], ref(s.id(cdn.Headers)); !jsonEqual(got, want) {
		t.Errorf("response headers policy %v, want %v", got, want)
	}
	assocs := b["FunctionAssociations"].([]any)
	if len(assocs) != 1 || assocs[0].(map[string]any)["EventType"] != "viewer-request" ||
		!jsonEqual(assocs[0].(map[string]any)["FunctionARN"], getAtt(s.id(cdn.Function), "FunctionARN")) {
		t.Errorf("function associations %v, want the negotiation at viewer request", assocs)
	}
	logging := cfg["Logging"].(map[string]any)
	if !jsonEqual(logging["Bucket"], getAtt(s.id(cdn.Logs), "RegionalDomainName")) {
		t.Errorf("logging %v, want the CDN log bucket", logging)
	}
	origins := cfg["Origins"].([]any)
	if len(origins) != 1 {
		t.Fatalf("origins %v", origins)
	}
	o := origins[0].(map[string]any)
	if o["OriginPath"] != "/variants" || o["OriginAccessControlId"] == nil ||
		!strings.Contains(mustJSON(o["DomainName"]), s.id(s.stack.Storage.Output)) {
		t.Errorf("origin %v: want the output bucket's variants/ through OAC", o)
	}
	s.has(t, "AWS::CloudFront::OriginAccessControl", map[string]any{"OriginAccessControlConfig": map[string]any{
		"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"}})

	fn := s.resources[s.id(cdn.Function)].Properties
	if fn["FunctionCode"] != delivery.FunctionCode || fn["FunctionConfig"].(map[string]any)["Runtime"] != "cloudfront-js-2.0" || fn["AutoPublish"] != true {
		t.Errorf("function: runtime %v, auto publish %v, code from negotiate.js %v",
			fn["FunctionConfig"], fn["AutoPublish"], fn["FunctionCode"] == delivery.FunctionCode)
	}

	s.has(t, "AWS::CloudFront::CachePolicy", map[string]any{"CachePolicyConfig": map[string]any{
		"MaxTTL": 31536000.0,
		"ParametersInCacheKeyAndForwardedToOrigin": map[string]any{
			"CookiesConfig":              map[string]any{"CookieBehavior": "none"},
			"HeadersConfig":              map[string]any{"HeaderBehavior": "none"},
			"QueryStringsConfig":         map[string]any{"QueryStringBehavior": "none"},
			"EnableAcceptEncodingGzip":   false,
			"EnableAcceptEncodingBrotli": false,
		}}})
	s.has(t, "AWS::CloudFront::ResponseHeadersPolicy", map[string]any{"ResponseHeadersPolicyConfig": assertions.Match_ObjectLike(&map[string]any{
		"SecurityHeadersConfig": map[string]any{
			"ContentTypeOptions":      map[string]any{"Override": true},
			"StrictTransportSecurity": map[string]any{"AccessControlMaxAgeSec": float64(delivery.HSTSSeconds), "IncludeSubdomains": true, "Override": true},
			"ContentSecurityPolicy":   map[string]any{"ContentSecurityPolicy": delivery.ContentSecurityPolicy, "Override": true},
		},
		"CustomHeadersConfig": map[string]any{"Items": []any{map[string]any{"Header": "Vary", "Value": delivery.Vary, "Override": true}}},
	})})

	// The API and the resize function learn the distribution's URL and ID.
	for name, fn := range map[string]string{"api": s.id(s.stack.Functions.API), "resize": s.id(s.stack.Functions.Resize)} {
		env := s.resources[fn].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		if u := mustJSON(env["CDN_URL"]); !strings.Contains(u, "https://") || !strings.Contains(u, distID) {
			t.Errorf("%s CDN_URL = %s, want the distribution's https URL", name, u)
		}
		if !jsonEqual(env["CDN_DISTRIBUTION_ID"], ref(distID)) {
			t.Errorf("%s CDN_DISTRIBUTION_ID = %v", name, env["CDN_DISTRIBUTION_ID"])
		}
	}
	if u := mustJSON(s.outputs["CdnUrl"]); !strings.Contains(u, distID) {
		t.Errorf("output CdnUrl = %s", u)
	}
}

// TestCDNBucketPolicy: the output bucket stays private and admits this
// distribution, and only it, to variants/* and nothing else.
func TestCDNBucketPolicy(t *testing.T) {
	s := defaults(t)
	distID, _ := s.distribution(t)
	outputID := s.id(s.stack.Storage.Output)
	var cdnStatements []map[string]any
	for _, p := range s.ofType("AWS::S3::BucketPolicy") {
		if !jsonEqual(p.Properties["Bucket"], ref(outputID)) {
			continue
		}
		for _, raw := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := raw.(map[string]any)
			if strings.Contains(mustJSON(st["Principal"]), "cloudfront.amazonaws.com") {
				cdnStatements = append(cdnStatements, st)
			}
		}
	}
	if len(cdnStatements) != 1 {
		t.Fatalf("%d statements for CloudFront on the output bucket, want 1: %v", len(cdnStatements), cdnStatements)
	}
	st := cdnStatements[0]
	if st["Effect"] != "Allow" || st["Action"] != "s3:GetObject" {
		t.Errorf("statement %v: want Allow s3:GetObject", st)
	}
	if res := mustJSON(st["Resource"]); !regexp.MustCompile(`"/variants/\*"`).MatchString(res) || !strings.Contains(res, outputID) {
		t.Errorf("resource %s: want the output bucket's variants/* only", res)
	}
	cond := mustJSON(st["Condition"])
	if !strings.Contains(cond, `"StringEquals":{"AWS:SourceArn"`) || !strings.Contains(cond, distID) {
		t.Errorf("condition %s: want AWS:SourceArn equal to this distribution", cond)
	}
	out := s.resources[outputID].Properties
	if !jsonEqual(out["PublicAccessBlockConfiguration"], map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}) {
		t.Errorf("output bucket public access block %v", out["PublicAccessBlockConfiguration"])
	}
}

// TestCDNSettingsReachTheDistribution: a custom domain with its certificate,
// the price class and the CORS origins are used as given; cdn=false removes the
// distribution and the API presigns again.
func TestCDNSettingsReachTheDistribution(t *testing.T) {
	const cert = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f"
	s := synth(t, map[string]any{"cdnDomainName": "images.example.com", "cdnCertificateArn": cert,
		"cdnPriceClass": "PriceClass_100", "allowedOrigins": "https://photos.example"})
	_, cfg := s.distribution(t)
	if !jsonEqual(cfg["Aliases"], []any{"images.example.com"}) || cfg["PriceClass"] != "PriceClass_100" {
		t.Errorf("aliases %v, price class %v", cfg["Aliases"], cfg["PriceClass"])
	}
	vc := cfg["ViewerCertificate"].(map[string]any)
	if vc["AcmCertificateArn"] != cert || vc["MinimumProtocolVersion"] != "TLSv1.2_2021" || vc["SslSupportMethod"] != "sni-only" {
		t.Errorf("viewer certificate %v", vc)
	}
	env := s.resources[s.id(s.stack.Functions.API)].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["CDN_URL"] != "https://images.example.com" {
		t.Errorf("CDN_URL = %v, want the custom domain", env["CDN_URL"])
	}
	s.has(t, "AWS::CloudFront::ResponseHeadersPolicy", map[string]any{"ResponseHeadersPolicyConfig": assertions.Match_ObjectLike(&map[string]any{
		"CorsConfig": map[string]any{
			"AccessControlAllowCredentials": false,
			"AccessControlAllowHeaders":     map[string]any{"Items": []any{"*"}},
			"AccessControlAllowMethods":     map[string]any{"Items": []any{"GET", "HEAD"}},
			"AccessControlAllowOrigins":     map[string]any{"Items": []any{"https://photos.example"}},
			"AccessControlMaxAgeSec":        float64(delivery.CORSMaxAgeSeconds),
			"OriginOverride":                true,
		},
	})})
	annotations := assertions.Annotations_FromStack(s.stack.Stack)
	for _, m := range *annotations.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		t.Errorf("cdk-nag error with a custom domain at %s: %v", *m.Id, m.Entry.Data)
	}

	off := synth(t, map[string]any{"cdn": "false"})
	if n := len(off.ofType("AWS::CloudFront::Distribution")); n != 0 || off.stack.CDN != nil {
		t.Fatalf("cdn=false: %d distributions", n)
	}
	env = off.resources[off.id(off.stack.Functions.API)].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if _, ok := env["CDN_URL"]; ok {
		t.Errorf("cdn=false: the API still gets CDN_URL %v", env["CDN_URL"])
	}
	output := regexp.QuoteMeta(off.id(off.stack.Storage.Output))
	if !allowed(identityStatements(t, off), off.id(off.stack.Functions.API.Role()), "s3:GetObject", output+`.*"/variants/\*"`) {
		t.Error("cdn=false: the API may not read variants, so it cannot presign them")
	}
}

// TestCfnLint runs cfn-lint, when this machine has it, on the synthesized
// template: CloudFormation's own rules (property names, values, limits) that
// synthesis does not check.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed, so the template is not linted (pip install cfn-lint)")
	}
	s := defaults(t)
	raw, err := json.Marshal(s.template.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "Imagepipe.template.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	// W (warnings) and I (informational) findings are reported but do not fail;
	// exit code bit 2 is errors.
	out, err := exec.Command(bin, "--format", "parseable", "--", path).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run cfn-lint: %v", err)
	}
	if code&2 != 0 || code&1 != 0 {
		t.Errorf("cfn-lint found errors (exit %d):\n%s", code, out)
	} else if len(out) > 0 {
		t.Logf("cfn-lint warnings:\n%s", out)
	}
}

func mustJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

func jsonEqual(a, b any) bool { return mustJSON(a) == mustJSON(b) }
