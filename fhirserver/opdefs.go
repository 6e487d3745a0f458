package fhirserver

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// operationDefinition is GET OperationDefinition/[id]: the definitions of
// the operations in reg (operations.Operation.Definition), named in the
// CapabilityStatement by their canonicals; else the stored resource.
func (a *app) operationDefinition(reg *operations.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Param("id")
		if o := reg.ByID(id); o != nil {
			b, err := o.Definition()
			if err != nil {
				return err
			}
			r := resources.Result{Status: http.StatusOK, Body: b, Keys: []storage.Key{{Type: "OperationDefinition", ID: id}}}
			return a.respond(c, r, a.options(c), false)
		}
		c.SetParamNames("type", "id")
		c.SetParamValues("OperationDefinition", id)
		return a.read(c)
	}
}
