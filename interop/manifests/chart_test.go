package manifests

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/tokend/tokend/internal/config"
)

const chartDir = "../../charts/tokend"

// helmBin asks the project's script for the pinned Helm client (built once
// into the cache).
func helmBin(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("../../scripts/helm-bin")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/helm-bin: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// helm runs the Helm client with a throwaway home, so no user config or
// repository cache is read.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// serviceMonitor and prometheusRule are the parts of the Prometheus
// Operator's types the chart renders (decoded strictly, like the rest).
type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type prometheusRule struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       ruleGroups        `json:"spec"`
}

// rendered is one `helm template` output, decoded by kind.
type rendered map[string]any

// render runs `helm template` with the --set values and decodes every
// document strictly into its API type.
func render(t *testing.T, sets ...string) rendered {
	t.Helper()
	args := []string{"template", "tokend", chartDir, "--namespace", "ops"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", sets, err, out)
	}
	r := rendered{}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("rendered document: %v\n%s", err, doc)
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
		case "policy/v1/PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "monitoring.coreos.com/v1/ServiceMonitor":
			obj = &serviceMonitor{}
		case "monitoring.coreos.com/v1/PrometheusRule":
			obj = &prometheusRule{}
		default:
			t.Fatalf("unexpected %s %s rendered", meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: %v\n%s", meta.Kind, err, doc)
		}
		if _, dup := r[meta.Kind]; dup {
			t.Fatalf("two %s objects", meta.Kind)
		}
		r[meta.Kind] = obj
	}
	if r["Deployment"] == nil || r["Service"] == nil {
		t.Fatalf("no Deployment or Service rendered: %v", slices.Collect(maps.Keys(r)))
	}
	return r
}

func (r rendered) deployment() *appsv1.Deployment { return r["Deployment"].(*appsv1.Deployment) }

// mounts and volumes of the tokend container, by mount path and by name.
func podVolumes(dep *appsv1.Deployment) (map[string]corev1.VolumeMount, map[string]corev1.Volume) {
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	vols := map[string]corev1.Volume{}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	return mounts, vols
}

// renderedConfig decodes the chart's tokend.toml with tokend's own loader.
func renderedConfig(t *testing.T, r rendered) *config.Config {
	t.Helper()
	cm, ok := r["ConfigMap"].(*corev1.ConfigMap)
	if !ok {
		t.Fatal("no ConfigMap rendered")
	}
	cfg, err := config.Decode([]byte(cm.Data["tokend.toml"]))
	if err != nil {
		t.Fatalf("the chart's tokend.toml does not validate:\n%v\n%s", err, cm.Data["tokend.toml"])
	}
	return cfg
}

func TestHelmLint(t *testing.T) {
	for _, sets := range [][]string{nil, {"state.backend=vault", "replicaCount=3"}, {"serviceMonitor.enabled=true", "prometheusRule.enabled=true"}} {
		args := []string{"lint", "--strict", chartDir}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		if out, err := helm(t, args...); err != nil || !strings.Contains(string(out), "0 chart(s) failed") {
			t.Errorf("helm lint %v: %v\n%s", sets, err, out)
		}
	}
}

// TestChartDefaultsAgreeWithTheManifests renders the default values (the
// file state store) and compares the workload with deploy/kubernetes: the
// kustomize manifests are the reviewed reference, the chart must not drift
// from them on security context, probes, resources, ports or strategy.
func TestChartDefaultsAgreeWithTheManifests(t *testing.T) {
	r := render(t)
	dep := r.deployment()
	ref := manifests(t)["Deployment"].(*appsv1.Deployment)
	spec, refSpec := dep.Spec.Template.Spec, ref.Spec.Template.Spec
	c, rc := spec.Containers[0], refSpec.Containers[0]

	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("file state: replicas %v strategy %s, want 1 and Recreate", dep.Spec.Replicas, dep.Spec.Strategy.Type)
	}
	same := func(what string, got, want any) {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from deploy/kubernetes:\nchart     %+v\nmanifests %+v", what, got, want)
		}
	}
	same("pod security context", spec.SecurityContext, refSpec.SecurityContext)
	same("container security context", c.SecurityContext, rc.SecurityContext)
	same("liveness probe", c.LivenessProbe, rc.LivenessProbe)
	same("readiness probe", c.ReadinessProbe, rc.ReadinessProbe)
	same("resources", c.Resources, rc.Resources)
	same("ports", c.Ports, rc.Ports)
	same("args", c.Args, rc.Args)
	same("termination grace", spec.TerminationGracePeriodSeconds, refSpec.TerminationGracePeriodSeconds)
	same("automount", spec.AutomountServiceAccountToken, refSpec.AutomountServiceAccountToken)
	if !labelsMatch(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
		t.Error("selector does not match the pod labels")
	}
	if sa := r["ServiceAccount"].(*corev1.ServiceAccount); spec.ServiceAccountName != sa.Name || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account %s, automount %v", sa.Name, sa.AutomountServiceAccountToken)
	}

	mounts, vols := podVolumes(dep)
	pvc := r["PersistentVolumeClaim"].(*corev1.PersistentVolumeClaim)
	if v := vols[mounts["/var/lib/tokend"].Name]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
		t.Error("/var/lib/tokend is not the state PVC")
	}
	if v := vols[mounts["/run/tokend"].Name]; v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Error("/run/tokend is not an in-memory emptyDir")
	}
	if m := mounts["/etc/tokend/secrets/tokend-secrets"]; !m.ReadOnly || vols[m.Name].Secret == nil ||
		vols[m.Name].Secret.SecretName != "tokend-secrets" || *vols[m.Name].Secret.DefaultMode != 0o440 {
		t.Errorf("the Secret tokend-secrets is not mounted read-only as files: %+v %+v", m, vols[m.Name])
	}
	cfg := renderedConfig(t, r)
	if cfg.State.Backend != "file" || cfg.State.Dir != "/var/lib/tokend" || cfg.Status == nil || cfg.Status.Listen != "0.0.0.0:9464" {
		t.Errorf("config state/status: %+v %+v", cfg.State, cfg.Status)
	}
	for _, cr := range cfg.Credentials {
		if f := cr.ClientSecretFile; f != "" && !strings.HasPrefix(f, "/etc/tokend/secrets/tokend-secrets/") {
			t.Errorf("%s is not in a Secret mount", f)
		}
	}
	if v := vols[mounts["/etc/tokend/config"].Name]; v.ConfigMap == nil || v.ConfigMap.Name != r["ConfigMap"].(*corev1.ConfigMap).Name {
		t.Error("the config mount is not the chart's ConfigMap")
	}
	svc := r["Service"].(*corev1.Service)
	if !labelsMatch(svc.Spec.Selector, dep.Spec.Template.Labels) || svc.Spec.Ports[0].TargetPort.String() != "http-metrics" {
		t.Errorf("service: %+v", svc.Spec)
	}
	for _, kind := range []string{"PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"} {
		if r[kind] != nil {
			t.Errorf("%s rendered by default", kind)
		}
	}
	if c.Image != "ghcr.io/tokend/tokend:0.1.0" {
		t.Errorf("image %s, want the appVersion tag", c.Image)
	}
}

func TestChartVaultStateWithThreeReplicas(t *testing.T) {
	r := render(t, "state.backend=vault", "replicaCount=3", "state.vault.caSecret=vault-ca")
	dep := r.deployment()
	if *dep.Spec.Replicas != 3 || dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %s", *dep.Spec.Replicas, dep.Spec.Strategy.Type)
	}
	pdb, ok := r["PodDisruptionBudget"].(*policyv1.PodDisruptionBudget)
	if !ok || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || !labelsMatch(pdb.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
		t.Fatalf("PodDisruptionBudget: %+v", r["PodDisruptionBudget"])
	}
	if r["PersistentVolumeClaim"] != nil {
		t.Error("a PVC is rendered with the Vault state store")
	}
	mounts, vols := podVolumes(dep)
	if v := vols[mounts["/var/lib/tokend"].Name]; v.EmptyDir == nil {
		t.Error("the state dir (the admin token only) is not an emptyDir")
	}
	cfg := renderedConfig(t, r)
	if cfg.State.Backend != "vault" || cfg.Vault == nil || cfg.Vault.Auth != "kubernetes" || cfg.Vault.Role != "tokend" || cfg.Vault.CACert != "/etc/tokend/vault-ca/ca.crt" {
		t.Fatalf("config: state %+v vault %+v", cfg.State, cfg.Vault)
	}
	// The JWT tokend presents is the projected service account token, with Vault's audience.
	m, ok := mounts[filepath.Dir(cfg.Vault.JWTPath)]
	if !ok || !m.ReadOnly {
		t.Fatalf("jwt_path %s is not in a read-only mount", cfg.Vault.JWTPath)
	}
	src := vols[m.Name].Projected
	if src == nil || len(src.Sources) != 1 || src.Sources[0].ServiceAccountToken == nil ||
		src.Sources[0].ServiceAccountToken.Path != filepath.Base(cfg.Vault.JWTPath) || src.Sources[0].ServiceAccountToken.Audience != "vault" {
		t.Fatalf("jwt volume: %+v", vols[m.Name])
	}
	if ca := vols[mounts["/etc/tokend/vault-ca"].Name]; ca.Secret == nil || ca.Secret.SecretName != "vault-ca" {
		t.Errorf("Vault CA volume: %+v", ca)
	}
	if *dep.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("the default service account token is automounted")
	}
}

func TestChartExistingConfigMapSecretsAndSidecar(t *testing.T) {
	r := render(t, "config.existingConfigMap=my-tokend", "secrets={crm-client,crm-seed}",
		"image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"extraContainers[0].name=consumer", "extraContainers[0].image=busybox",
		"extraContainers[0].volumeMounts[0].name=run", "extraContainers[0].volumeMounts[0].mountPath=/tokens",
		"extraContainers[0].volumeMounts[0].readOnly=true")
	if r["ConfigMap"] != nil {
		t.Error("a ConfigMap is rendered although an existing one is named")
	}
	dep := r.deployment()
	mounts, vols := podVolumes(dep)
	if v := vols[mounts["/etc/tokend/config"].Name]; v.ConfigMap == nil || v.ConfigMap.Name != "my-tokend" {
		t.Errorf("config volume: %+v", v)
	}
	for _, s := range []string{"crm-client", "crm-seed"} {
		if v := vols[mounts["/etc/tokend/secrets/"+s].Name]; v.Secret == nil || v.Secret.SecretName != s {
			t.Errorf("Secret %s not mounted: %+v", s, v)
		}
	}
	if _, ok := dep.Spec.Template.Annotations["checksum/config"]; ok {
		t.Error("a checksum of a ConfigMap the chart does not render")
	}
	cs := dep.Spec.Template.Spec.Containers
	if cs[0].Image != "ghcr.io/tokend/tokend@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("image %s: the digest must pin it", cs[0].Image)
	}
	if len(cs) != 2 || cs[1].Name != "consumer" || cs[1].VolumeMounts[0].Name != "run" || vols["run"].EmptyDir == nil {
		t.Errorf("sidecar sharing the sink emptyDir: %+v", cs)
	}
}

func TestChartMonitoring(t *testing.T) {
	r := render(t, "serviceMonitor.enabled=true", "prometheusRule.enabled=true", "serviceMonitor.labels.release=kube-prometheus")
	sm, ok := r["ServiceMonitor"].(*serviceMonitor)
	svc := r["Service"].(*corev1.Service)
	if !ok || !labelsMatch(sm.Spec.Selector.MatchLabels, svc.Labels) || len(sm.Spec.Endpoints) != 1 ||
		sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Metadata.Labels["release"] != "kube-prometheus" {
		t.Fatalf("ServiceMonitor %+v for Service %+v", r["ServiceMonitor"], svc.ObjectMeta)
	}
	// The alert rules' job selector matches the job the ServiceMonitor gives (the Service's name).
	if !strings.Contains(svc.Name, "tokend") {
		t.Errorf("Service %s: the rules select job=~\".*tokend.*\"", svc.Name)
	}
	pr, ok := r["PrometheusRule"].(*prometheusRule)
	if !ok {
		t.Fatal("no PrometheusRule")
	}
	b, err := os.ReadFile("../../deploy/prometheus/tokend-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want ruleGroups
	if err := yaml.UnmarshalStrict(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Groups) == 0 || len(want.Groups[0].Rules) != 7 || !reflect.DeepEqual(pr.Spec, want) {
		t.Fatalf("PrometheusRule spec differs from deploy/prometheus/tokend-rules.yaml:\n%+v", pr.Spec)
	}
	if a := pr.Spec.Groups[0].Rules[0].Annotations["summary"]; !strings.Contains(a, "{{ $labels.credential }}") {
		t.Errorf("Helm expanded Prometheus's template: %q", a)
	}
}

// TestChartRulesAreTheShippedRules: Helm reads files only inside the chart,
// so the chart carries a copy of deploy/prometheus/tokend-rules.yaml (the
// source); the copy must be identical (cp the source over it after a change).
func TestChartRulesAreTheShippedRules(t *testing.T) {
	src, err := os.ReadFile("../../deploy/prometheus/tokend-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join(chartDir, "files", "tokend-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, cp) {
		t.Fatal("charts/tokend/files/tokend-rules.yaml differs from deploy/prometheus/tokend-rules.yaml: cp deploy/prometheus/tokend-rules.yaml charts/tokend/files/")
	}
}

func TestChartRefusesTwoReplicasOnTheFileStore(t *testing.T) {
	out, err := helm(t, "template", "tokend", chartDir, "--set", "replicaCount=2")
	if err == nil || !strings.Contains(string(out), "state.backend=file allows exactly one replica") {
		t.Fatalf("helm template with 2 replicas on the file store: %v\n%s", err, out)
	}
}
