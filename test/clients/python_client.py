"""Kubernetes' Python client (Debian's python3-kubernetes) against labkube, driven by
python.test.ts. Each command prints one JSON line per result, so the test reads what the
client's own models decoded (with their validation left on)."""
import json
import sys

from kubernetes import client, config, watch


def out(**kw):
    print(json.dumps(kw), flush=True)


def main():
    kubeconfig, command = sys.argv[1], sys.argv[2]
    config.load_kube_config(kubeconfig)
    core, apps = client.CoreV1Api(), client.AppsV1Api()
    if command == 'watch':
        # List, then watch from the list's resourceVersion, as an informer does; one line per event.
        pods = core.list_namespaced_pod('default', label_selector='app=py')
        out(type='LISTED', names=[p.metadata.name for p in pods.items])
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_pod, 'default', label_selector='app=py',
                           resource_version=pods.metadata.resource_version, timeout_seconds=int(sys.argv[3])):
            out(type=ev['type'], name=ev['object'].metadata.name, phase=ev['object'].status.phase)
        out(type='END')
    elif command == 'exec':
        # Exec through the client's own WebSocket stream (v4.channel.k8s.io), in the named pod.
        from kubernetes.stream import stream
        resp = stream(core.connect_get_namespaced_pod_exec, sys.argv[3], 'default',
                      command=['sh', '-c', 'echo out; echo err >&2; exit 4'],
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=60)
        out(stdout=resp.read_stdout(), stderr=resp.read_stderr(), code=resp.returncode)
    elif command == 'portforward':
        # The client's own port-forward (WebSocket channels): an HTTP request to port 80 of the pod.
        from kubernetes.stream import portforward
        pf = portforward(core.connect_get_namespaced_pod_portforward, sys.argv[3], 'default', ports='80')
        sock = pf.socket(80)
        sock.setblocking(True)
        sock.sendall(b'GET / HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n')
        reply = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        sock.close()
        out(status=reply.split(b'\r\n', 1)[0].decode(), nginx=b'nginx' in reply.lower(), error=pf.error(80))
    elif command == 'crud':
        body = client.V1Deployment(
            metadata=client.V1ObjectMeta(name='py'),
            spec=client.V1DeploymentSpec(
                replicas=1, selector=client.V1LabelSelector(match_labels={'app': 'py'}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={'app': 'py'}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name='web', image='nginx')]))))
        made = apps.create_namespaced_deployment('default', body)
        out(step='created', name=made.metadata.name, replicas=made.spec.replicas)
        nodes = core.list_node(label_selector='kubernetes.io/os=linux', limit=1)
        out(step='nodes', count=len(nodes.items), more=bool(nodes.metadata._continue))
    elif command == 'scale':
        scaled = apps.patch_namespaced_deployment_scale('py', 'default', {'spec': {'replicas': int(sys.argv[3])}})
        out(step='scaled', replicas=scaled.spec.replicas)
    elif command == 'patch':
        patched = apps.patch_namespaced_deployment('py', 'default', {'metadata': {'labels': {'team': 'lab'}}})
        out(step='patched', labels=patched.metadata.labels)
    elif command == 'delete':
        status = apps.delete_namespaced_deployment('py', 'default', propagation_policy='Foreground')
        out(step='deleted', kind=type(status).__name__)
        try:
            core.read_namespaced_pod('nope', 'default')
        except client.exceptions.ApiException as err:
            out(step='error', status=err.status, reason=json.loads(err.body)['reason'])


main()
