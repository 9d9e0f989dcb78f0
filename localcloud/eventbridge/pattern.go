package eventbridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Pattern is a compiled EventBridge event pattern. It supports the operators
// imagepipe's rules could reasonably use: exact values (strings, numbers,
// booleans, null), prefix, suffix, equals-ignore-case, anything-but (a value, a
// list, or a prefix/suffix), exists and numeric ranges. Others ($or, cidr,
// wildcard) are refused when compiling, rather than matched wrongly.
type Pattern struct {
	root map[string]any
}

// CompilePattern checks a pattern as PutRule would and returns it compiled.
func CompilePattern(raw []byte) (*Pattern, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("event pattern is not JSON: %w", err)
	}
	root, ok := v.(map[string]any)
	if !ok || len(root) == 0 {
		return nil, errors.New("event pattern must be a non-empty JSON object")
	}
	if err := checkObject(root, ""); err != nil {
		return nil, err
	}
	return &Pattern{root: root}, nil
}

func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func checkObject(obj map[string]any, path string) error {
	for k, v := range obj {
		p := strings.TrimPrefix(path+"."+k, ".")
		if strings.HasPrefix(k, "$") {
			return fmt.Errorf("event pattern %s: %s is not supported by the local cloud", p, k)
		}
		switch x := v.(type) {
		case map[string]any:
			if err := checkObject(x, p); err != nil {
				return err
			}
		case []any:
			if len(x) == 0 {
				return fmt.Errorf("event pattern %s: empty list matches nothing", p)
			}
			for _, m := range x {
				if err := checkMatcher(m, p); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("event pattern %s: want a list of values or a nested object, got %s", p, jsonOf(v))
		}
	}
	return nil
}

func checkMatcher(m any, path string) error {
	op, ok := m.(map[string]any)
	if !ok {
		return nil // a literal
	}
	if len(op) != 1 {
		return fmt.Errorf("event pattern %s: an operator object has exactly one key, got %s", path, jsonOf(m))
	}
	for name, arg := range op {
		switch name {
		case "prefix", "suffix":
			if _, ok := arg.(string); ok {
				return nil
			}
			if sub, ok := arg.(map[string]any); ok && len(sub) == 1 {
				if s, ok := sub["equals-ignore-case"].(string); ok && s != "" {
					return nil
				}
			}
			return fmt.Errorf("event pattern %s: %s takes a string", path, name)
		case "equals-ignore-case":
			if _, ok := arg.(string); !ok {
				return fmt.Errorf("event pattern %s: equals-ignore-case takes a string", path)
			}
		case "exists":
			if _, ok := arg.(bool); !ok {
				return fmt.Errorf("event pattern %s: exists takes true or false", path)
			}
		case "anything-but":
			switch a := arg.(type) {
			case string, json.Number:
			case []any:
				for _, x := range a {
					switch x.(type) {
					case string, json.Number:
					default:
						return fmt.Errorf("event pattern %s: anything-but lists strings or numbers", path)
					}
				}
			case map[string]any:
				if err := checkMatcher(a, path); err != nil {
					return err
				}
				if _, ok := a["prefix"]; !ok {
					if _, ok := a["suffix"]; !ok {
						return fmt.Errorf("event pattern %s: anything-but takes a value, a list, or prefix/suffix", path)
					}
				}
			default:
				return fmt.Errorf("event pattern %s: anything-but takes a value, a list, or prefix/suffix", path)
			}
		case "numeric":
			if _, err := numericRange(arg); err != nil {
				return fmt.Errorf("event pattern %s: %w", path, err)
			}
		default:
			return fmt.Errorf("event pattern %s: operator %q is not supported by the local cloud", path, name)
		}
	}
	return nil
}

// Matches reports whether the event (JSON) matches the pattern.
func (p *Pattern) Matches(event []byte) bool {
	v, err := decode(event)
	if err != nil {
		return false
	}
	obj, ok := v.(map[string]any)
	return ok && matchObject(p.root, obj, true)
}

func matchObject(pattern, event map[string]any, present bool) bool {
	for k, want := range pattern {
		got, ok := event[k]
		ok = ok && present
		switch w := want.(type) {
		case map[string]any:
			sub, isObj := got.(map[string]any)
			if !matchObject(w, sub, ok && isObj) {
				return false
			}
		case []any:
			if !matchField(w, got, ok) {
				return false
			}
		}
	}
	return true
}

// matchField: the field matches if any matcher matches it (or, for an array
// value, any of its elements).
func matchField(matchers []any, got any, present bool) bool {
	values := []any{got}
	if arr, ok := got.([]any); ok && present {
		values = arr
	}
	for _, m := range matchers {
		if op, ok := m.(map[string]any); ok {
			if e, isExists := op["exists"]; isExists {
				_, isObj := got.(map[string]any)
				if e.(bool) == (present && !isObj) {
					return true
				}
				continue
			}
		}
		if !present {
			continue
		}
		for _, v := range values {
			if matchValue(m, v) {
				return true
			}
		}
	}
	return false
}

func matchValue(m, v any) bool {
	op, isOp := m.(map[string]any)
	if !isOp {
		return literalEqual(m, v)
	}
	for name, arg := range op {
		switch name {
		case "prefix", "suffix":
			s, ok := v.(string)
			return ok && affix(name, arg, s)
		case "equals-ignore-case":
			s, ok := v.(string)
			return ok && strings.EqualFold(s, arg.(string))
		case "anything-but":
			switch a := arg.(type) {
			case []any:
				return !slices.ContainsFunc(a, func(x any) bool { return literalEqual(x, v) })
			case map[string]any:
				s, ok := v.(string)
				if !ok {
					return true
				}
				for affixName, affixArg := range a {
					return !affix(affixName, affixArg, s)
				}
			default:
				return !literalEqual(a, v)
			}
		case "numeric":
			n, ok := v.(json.Number)
			if !ok {
				return false
			}
			f, err := n.Float64()
			if err != nil {
				return false
			}
			r, _ := numericRange(arg)
			return r.contains(f)
		}
	}
	return false
}

func affix(name string, arg any, s string) bool {
	want, fold := "", false
	switch a := arg.(type) {
	case string:
		want = a
	case map[string]any:
		want, fold = a["equals-ignore-case"].(string), true
	}
	if fold {
		s, want = strings.ToLower(s), strings.ToLower(want)
	}
	if name == "prefix" {
		return strings.HasPrefix(s, want)
	}
	return strings.HasSuffix(s, want)
}

// literalEqual compares a pattern literal with an event value: strings exactly,
// numbers by value (EventBridge compares 5 and 5.0 as equal), booleans and null.
func literalEqual(want, got any) bool {
	switch w := want.(type) {
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return false
		}
		wf, err1 := w.Float64()
		gf, err2 := g.Float64()
		return err1 == nil && err2 == nil && wf == gf
	case nil:
		return got == nil
	default:
		return want == got
	}
}

type bound struct {
	op string
	v  float64
}

type numRange []bound

func (r numRange) contains(f float64) bool {
	for _, b := range r {
		ok := false
		switch b.op {
		case "=":
			ok = f == b.v
		case "<":
			ok = f < b.v
		case "<=":
			ok = f <= b.v
		case ">":
			ok = f > b.v
		case ">=":
			ok = f >= b.v
		}
		if !ok {
			return false
		}
	}
	return true
}

func numericRange(arg any) (numRange, error) {
	list, ok := arg.([]any)
	if !ok || len(list) == 0 || len(list)%2 != 0 || len(list) > 4 {
		return nil, errors.New(`numeric takes one or two comparisons like [">", 0, "<=", 5]`)
	}
	var r numRange
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		n, isNum := list[i+1].(json.Number)
		if !ok || !isNum || !slices.Contains([]string{"=", "<", "<=", ">", ">="}, op) {
			return nil, fmt.Errorf("numeric: bad comparison %s %s", jsonOf(list[i]), jsonOf(list[i+1]))
		}
		f, err := n.Float64()
		if err != nil {
			return nil, fmt.Errorf("numeric: %w", err)
		}
		r = append(r, bound{op, f})
	}
	return r, nil
}

func jsonOf(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(raw)
}
