package store

// FastSmall says whether GetSmall has its own client (small.go).
func FastSmall(s *Store) bool { return s.small != nil }

// NoSmall makes GetSmall go through net/http.
func NoSmall(s *Store) { s.small = nil }
