{{/* Labels every object carries; selectors use the stable subset (athena.selector). */}}
{{- define "athena.labels" -}}
app.kubernetes.io/name: athena
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{ include "athena.selector" . }}
{{- end -}}

{{- define "athena.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- if .ability }}
athena.io/ability: {{ .ability }}
{{- end }}
{{- end -}}

{{/* One ability's settings: the `worker` defaults overlaid with the ability's own (as JSON). */}}
{{- define "athena.ability" -}}
{{- $merged := mergeOverwrite (deepCopy .root.Values.worker) (deepCopy .values) -}}
{{- toJson $merged -}}
{{- end -}}

{{/* The headless Service naming every worker pod of one ability. */}}
{{- define "athena.workersName" -}}
{{- printf "%s-workers" . -}}
{{- end -}}

{{/* The gateway's --worker targets: each ability's headless Service, fully qualified. */}}
{{- define "athena.workerTargets" -}}
{{- $root := . -}}
{{- range $name, $values := .Values.abilities }}
{{- $a := include "athena.ability" (dict "root" $root "values" $values) | fromJson }}
- --worker
- {{ printf "%s.%s.svc.cluster.local:%d" (include "athena.workersName" $name) $root.Release.Namespace (int $a.ports.grpc) }}
{{- end }}
{{- end -}}

{{/*
Two ports of one pod cannot be equal, and a JSON schema cannot compare two values: fail here,
naming both keys.
*/}}
{{- define "athena.checkTls" -}}
{{- if ne (empty .Values.tls.workerSecret) (empty .Values.tls.gatewaySecret) -}}
{{- fail "tls.workerSecret and tls.gatewaySecret: give both (the workers' certificate and the gateway's) or neither" -}}
{{- end -}}
{{- end -}}

{{/* The Secret volume of mutual TLS, mounted read-only at /etc/athena/tls. */}}
{{- define "athena.tlsVolume" -}}
- name: tls
  secret:
    secretName: {{ . }}
    defaultMode: 288  # 0440: the pod's group (fsGroup) reads it, no one else
{{- end -}}

{{- define "athena.checkPorts" -}}
{{- $g := .Values.gateway.ports -}}
{{- if eq (int $g.http) (int $g.grpc) -}}
{{- fail (printf "port clash: gateway.ports.http and gateway.ports.grpc are both %d; give each its own port" (int $g.http)) -}}
{{- end -}}
{{- if $g.admin -}}
{{- range $other := list "http" "grpc" -}}
{{- if eq (int $g.admin) (int (get $g $other)) -}}
{{- fail (printf "port clash: gateway.ports.%s and gateway.ports.admin are both %d; give each its own port" $other (int $g.admin)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $root := . -}}
{{- range $name, $values := .Values.abilities -}}
{{- $a := include "athena.ability" (dict "root" $root "values" $values) | fromJson -}}
{{- if eq (int $a.ports.grpc) (int $a.ports.metrics) -}}
{{- $key := ternary (printf "abilities.%s.ports" $name) "worker.ports" (hasKey $values "ports") -}}
{{- fail (printf "port clash: %s.grpc and %s.metrics are both %d (ability %s); give each its own port" $key $key (int $a.ports.grpc) $name) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.abilities -}}
{{- fail "abilities: name at least one ability (abilities.NAME.image), e.g. -f examples/my-abilities.yaml" -}}
{{- end -}}
{{- end -}}

{{/* Pod- and container-level hardening shared by the gateway and the workers. */}}
{{- define "athena.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
fsGroup: {{ .Values.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "athena.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
