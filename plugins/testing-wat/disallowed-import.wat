;; A component that imports an interface outside the policy ABI (a made-up network
;; interface); the host must refuse it at load time, naming the import.
(component
  (import "evil:net/connect@1.0.0" (instance $net
    (export "open" (func (param "host" string) (result u32)))
  ))
)
