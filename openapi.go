package filegate

import _ "embed"

// OpenAPI is filegate's HTTP API description (openapi.yaml), served at
// /openapi.yaml and checked against real responses in the tests.
//
//go:embed openapi.yaml
var OpenAPI []byte
