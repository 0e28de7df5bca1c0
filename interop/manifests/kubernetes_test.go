package manifests

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/tokend/tokend/internal/config"
)

const k8sDir = "../../deploy/kubernetes"

// documents splits a YAML file into its non-empty documents.
func documents(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// manifests decodes every document of every manifest strictly (unknown or
// misspelled fields are errors) into its Kubernetes API type, by kind.
func manifests(t *testing.T) map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string]any{}
	for _, f := range files {
		for _, doc := range documents(t, f) {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var obj any
			switch meta.APIVersion + "/" + meta.Kind {
			case "apps/v1/Deployment":
				obj = &appsv1.Deployment{}
			case "v1/ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "v1/ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1/Service":
				obj = &corev1.Service{}
			case "v1/PersistentVolumeClaim":
				obj = &corev1.PersistentVolumeClaim{}
			case "kustomize.config.k8s.io/v1beta1/Kustomization":
				obj = &kustomization{}
			default:
				t.Fatalf("%s: unexpected %s %s", f, meta.APIVersion, meta.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if _, dup := out[meta.Kind]; dup {
				t.Fatalf("two %s objects", meta.Kind)
			}
			out[meta.Kind] = obj
		}
	}
	return out
}

// kustomization is the part of kustomize's type the file uses.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

func TestStrictDecodingCatchesTypos(t *testing.T) {
	bad := []byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 1\n")
	if err := yaml.UnmarshalStrict(bad, &appsv1.Deployment{}); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("a misspelled field was accepted: %v", err)
	}
}

func TestKubernetesManifests(t *testing.T) {
	m := manifests(t)
	dep := m["Deployment"].(*appsv1.Deployment)
	spec := dep.Spec.Template.Spec

	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Error("replicas must be 1 with the file state store")
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Error("strategy must be Recreate: the old pod must release the state volume and its lock first")
	}
	if !labelsMatch(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
		t.Error("selector does not match the pod labels")
	}
	if spec.ServiceAccountName != "tokend" || m["ServiceAccount"].(*corev1.ServiceAccount).Name != "tokend" {
		t.Error("the Deployment does not use the tokend ServiceAccount")
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context: %+v", psc)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		(sc.Privileged != nil && *sc.Privileged) {
		t.Errorf("container security context: %+v", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http-metrics" {
			t.Errorf("%s probe: %+v", name, p)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	if len(c.Ports) != 1 || c.Ports[0].Name != "http-metrics" || c.Ports[0].ContainerPort != 9464 {
		t.Errorf("ports: %+v", c.Ports)
	}

	// Volumes: config from the ConfigMap, state on the PVC, /run/tokend an emptyDir.
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	cm := m["ConfigMap"].(*corev1.ConfigMap)
	pvc := m["PersistentVolumeClaim"].(*corev1.PersistentVolumeClaim)
	cfgArg := c.Args[len(c.Args)-1]
	if v := vols[mounts[filepath.Dir(cfgArg)].Name]; v.ConfigMap == nil || v.ConfigMap.Name != cm.Name || !mounts[filepath.Dir(cfgArg)].ReadOnly {
		t.Errorf("--config %s is not the read-only ConfigMap mount", cfgArg)
	}
	if v := vols[mounts["/run/tokend"].Name]; v.EmptyDir == nil {
		t.Error("/run/tokend is not an emptyDir")
	}
	if v := vols[mounts["/var/lib/tokend"].Name]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
		t.Error("/var/lib/tokend is not the state PVC")
	}
	if !slices.Equal(c.Args[:2], []string{"run", "--config"}) {
		t.Errorf("args %q", c.Args)
	}

	// The ConfigMap's tokend.toml is a valid config that matches the Deployment.
	cfg, err := config.Decode([]byte(cm.Data[filepath.Base(cfgArg)]))
	if err != nil {
		t.Fatalf("the ConfigMap's tokend.toml does not validate:\n%v", err)
	}
	if cfg.State.Dir != "/var/lib/tokend" || cfg.Status == nil || cfg.Status.Listen != "0.0.0.0:9464" {
		t.Errorf("config state/status do not match the Deployment: %+v %+v", cfg.State, cfg.Status)
	}
	for _, cr := range cfg.Credentials {
		for _, s := range cr.Sinks {
			if path, _ := s.Target(); !strings.HasPrefix(path, "/run/tokend/") {
				t.Errorf("sink %s is outside the writable /run/tokend", path)
			}
		}
		for _, f := range []string{cr.ClientSecretFile, cr.SeedFile()} {
			if f != "" && !strings.HasPrefix(f, "/etc/tokend/secrets/") {
				t.Errorf("%s is not in the Secret mount", f)
			}
		}
	}

	svc := m["Service"].(*corev1.Service)
	if !labelsMatch(svc.Spec.Selector, dep.Spec.Template.Labels) || len(svc.Spec.Ports) != 1 ||
		svc.Spec.Ports[0].TargetPort.String() != "http-metrics" || svc.Spec.Ports[0].Port != 9464 {
		t.Errorf("service: %+v", svc.Spec)
	}

	// The kustomization lists every manifest.
	k := m["Kustomization"].(*kustomization)
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(k.Resources, b) {
			t.Errorf("kustomization.yaml does not list %s", b)
		}
	}
}

func labelsMatch(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestDockerfile checks the image the Deployment runs: a static build on
// distroless nonroot, whose UID the pod's runAsUser matches.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var last struct{ user, entrypoint, cmd string }
	for _, l := range strings.Split(string(b), "\n") {
		switch f := strings.Fields(l); {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "FROM":
			froms = append(froms, f[1])
		case f[0] == "USER":
			last.user = f[1]
		case f[0] == "ENTRYPOINT":
			last.entrypoint = strings.Join(f[1:], " ")
		case f[0] == "CMD":
			last.cmd = strings.Join(f[1:], " ")
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:") || froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages: %q", froms)
	}
	if !bytes.Contains(b, []byte("CGO_ENABLED=0")) || !bytes.Contains(b, []byte("./cmd/tokend")) {
		t.Error("not a static (CGO_ENABLED=0) build of ./cmd/tokend")
	}
	if last.user != "nonroot:nonroot" || last.entrypoint != `["/usr/local/bin/tokend"]` {
		t.Errorf("user %q entrypoint %q", last.user, last.entrypoint)
	}
	dep := manifests(t)["Deployment"].(*appsv1.Deployment)
	if uid := *dep.Spec.Template.Spec.SecurityContext.RunAsUser; uid != 65532 {
		t.Errorf("runAsUser %d is not distroless nonroot (65532)", uid)
	}
	if args := dep.Spec.Template.Spec.Containers[0].Args; last.cmd != `["`+strings.Join(args, `", "`)+`"]` {
		t.Errorf("Dockerfile CMD %s differs from the Deployment's args %q", last.cmd, args)
	}
}
