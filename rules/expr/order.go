package expr

import "sort"

// Order returns the keys of deps (meta rule name → the names its
// expression reads, as Program.Deps gives them) in an order where every
// rule comes after the rules it reads. Names that are not keys are taken
// to be plain symbols that checks report, and are left out. The order is
// deterministic: rules are visited alphabetically, and each rule's
// dependencies in the order given.
//
// When rules read each other in a circle, Order returns a *CycleError
// whose path starts and ends with the same name ("A -> B -> A"; a rule
// that reads itself is "A -> A").
func Order(deps map[string][]string) ([]string, error) {
	keys := make([]string, 0, len(deps))
	for k := range deps {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(deps))
	order := make([]string, 0, len(deps))
	var path []string // the rules being visited, outermost first

	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			start := len(path) - 1
			for path[start] != name {
				start--
			}
			cycle := append(append([]string(nil), path[start:]...), name)
			return &CycleError{Path: cycle}
		}
		state[name] = visiting
		path = append(path, name)
		for _, d := range deps[name] {
			if _, meta := deps[d]; !meta {
				continue
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, k := range keys {
		if err := visit(k); err != nil {
			return nil, err
		}
	}
	return order, nil
}
