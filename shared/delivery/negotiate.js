// imagepipe's CloudFront Function (JavaScript runtime 2.0, viewer request).
//
// A delivery URL names one variant and every encoding that exists for it:
// /{id}/{name}-{tag}.{ext}[.{ext}...], where the last extension is the primary
// encoding (JPEG or PNG, which every browser shows) and any before it are
// alternates (AVIF, WebP). The function picks the encoding the viewer's Accept header prefers among
// those listed and rewrites the URI to that one object, /{id}/{name}-{tag}.{ext},
// before the cache lookup: the cache key is the concrete object, so each encoding
// is cached once and a viewer never gets one it did not ask for. No lookup is
// needed and no listed encoding is missing, so the answer is never a 404 or 403
// for a format. A URL with a single extension is a fixed-format URL (for
// <picture> sources) and is passed through unchanged.
//
// The same file runs in the local cloud (localcloud/cdn, through goja), so the
// negotiation is tested and used locally exactly as deployed.

var TYPES = { avif: 'image/avif', webp: 'image/webp', jpg: 'image/jpeg', png: 'image/png' };

// Alternates in the order the service prefers them when the viewer likes them
// equally; the primary comes after every alternate.
var PREFERENCE = ['avif', 'webp'];

var PATH = /^\/([0-9a-f]{32})\/([a-z0-9][a-z0-9_-]{0,31}-[0-9a-f]{8})\.([a-z0-9]+(?:\.[a-z0-9]+){0,3})$/;

// acceptQ maps each media range in an Accept header to its quality, 0 to 1.
// Entries with a malformed q are ignored; a missing q is 1.
function acceptQ(header) {
    var q = {};
    var parts = header.split(',');
    for (var i = 0; i < parts.length && i < 64; i++) {
        var params = parts[i].split(';');
        var range = params[0].trim().toLowerCase();
        if (range === '') {
            continue;
        }
        var quality = 1;
        for (var j = 1; j < params.length; j++) {
            var kv = params[j].trim().toLowerCase();
            if (kv.indexOf('q=') === 0) {
                var v = kv.substring(2);
                quality = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(v) ? parseFloat(v) : -1;
            }
        }
        if (quality >= 0 && !(range in q && q[range] > quality)) {
            q[range] = quality;
        }
    }
    return q;
}

// acceptHeader joins every Accept header the viewer sent.
function acceptHeader(headers) {
    var h = headers && headers.accept;
    if (!h) {
        return '';
    }
    if (h.multiValue && h.multiValue.length > 0) {
        return h.multiValue.map(function (m) { return m.value; }).join(',');
    }
    return h.value || '';
}

// choose returns the extension to serve. Alternates count only when the viewer
// names their type: browsers that send just image/* or */* may not decode AVIF or
// WebP. The primary is admitted by its own type or a wildcard, and is served when
// nothing listed is admitted at all, so the viewer always gets a picture.
function choose(exts, accept) {
    var primary = exts[exts.length - 1];
    if (exts.length === 1) {
        return primary;
    }
    var q = acceptQ(accept);
    var best = primary;
    var bestQ = 0;
    var primaryType = TYPES[primary];
    if (primaryType in q) {
        bestQ = q[primaryType];
    } else if ('image/*' in q) {
        bestQ = q['image/*'];
    } else if ('*/*' in q) {
        bestQ = q['*/*'];
    }
    // Walk from least to most preferred, so a tie goes to the preferred one.
    for (var i = PREFERENCE.length - 1; i >= 0; i--) {
        var ext = PREFERENCE[i];
        if (exts.indexOf(ext) < 0 || ext === primary) {
            continue;
        }
        var aq = q[TYPES[ext]];
        if (aq > 0 && aq >= bestQ) {
            best = ext;
            bestQ = aq;
        }
    }
    return best;
}

// listed returns the extensions of a delivery URL, or null when they are not a
// valid list: known types, no repeats.
function listed(list) {
    var exts = list.split('.');
    var seen = {};
    for (var i = 0; i < exts.length; i++) {
        if (!(exts[i] in TYPES) || seen[exts[i]]) {
            return null;
        }
        seen[exts[i]] = true;
    }
    return exts;
}

function notFound() {
    return {
        statusCode: 404,
        statusDescription: 'Not Found',
        headers: {
            'content-type': { value: 'text/plain; charset=utf-8' },
            'cache-control': { value: 'max-age=60' }
        },
        body: 'not a variant URL\n'
    };
}

function handler(event) {
    var request = event.request;
    var m = PATH.exec(request.uri);
    var exts = m ? listed(m[3]) : null;
    if (!exts) {
        return notFound();
    }
    request.uri = '/' + m[1] + '/' + m[2] + '.' + choose(exts, acceptHeader(request.headers));
    // Nothing else shapes the answer: the cache key and the origin see only the URI.
    request.querystring = {};
    return request;
}
