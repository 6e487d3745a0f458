package scheduling_test

import (
	"testing"

	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }
