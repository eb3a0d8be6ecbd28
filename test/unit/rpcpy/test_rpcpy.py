#!/usr/bin/env python3
#
# Unit tests for scripts/rpc.py, run against a fake JSON-RPC server listening
# on a temporary UNIX socket.  Standard library only:
#
#   /usr/bin/python3 test/unit/rpcpy/test_rpcpy.py
#
# The last line printed is "N passed, M failed"; the exit status is non-zero
# when anything failed.

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
RPC_PY = os.path.join(ROOT, 'scripts', 'rpc.py')

# Responder actions besides a response object.
SILENT = 'silent'   # never answer this request
CLOSE = 'close'     # close the connection instead of answering


def ok(req, result):
    return {'jsonrpc': '2.0', 'id': req.get('id'), 'result': result}


def err(req, code, message):
    return {'jsonrpc': '2.0', 'id': req.get('id'),
            'error': {'code': code, 'message': message}}


class FakeServer:
    """Minimal JSON-RPC server on a temporary UNIX socket, run in a thread.

    `responder(req)` returns a response dict, raw bytes, SILENT or CLOSE.
    Responses are sent `chunk` bytes at a time (all at once if None), with
    `delay` seconds between chunks.  Every decoded request is recorded in
    `requests`, with the connection number in `conn_of`.
    """

    def __init__(self, responder=None, chunk=None, delay=0.0, trailer=b''):
        self.dir = tempfile.mkdtemp(prefix='rpcpy-')
        self.path = os.path.join(self.dir, 'rpc.sock')
        self.responder = responder or self.default_responder
        self.chunk = chunk
        self.delay = delay
        self.trailer = trailer
        self.requests = []
        self.conn_of = []
        self.raw = []
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.conns = 0
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @staticmethod
    def default_responder(req):
        return ok(req, True)

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns += 1
            t = threading.Thread(target=self._serve, args=(conn, self.conns), daemon=True)
            t.start()

    def _send(self, conn, payload):
        payload += self.trailer
        step = self.chunk or len(payload)
        for i in range(0, len(payload), step):
            conn.sendall(payload[i:i + step])
            if self.delay:
                time.sleep(self.delay)

    def _serve(self, conn, conn_no):
        decoder = json.JSONDecoder()
        buf = ''
        raw = b''
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                raw += data
                with self.lock:
                    self.raw.append(data)
                buf += data.decode('utf-8')
                while True:
                    text = buf.lstrip()
                    try:
                        req, end = decoder.raw_decode(text)
                    except ValueError:
                        buf = text
                        break
                    buf = text[end:]
                    with self.lock:
                        self.requests.append(req)
                        self.conn_of.append(conn_no)
                    action = self.responder(req)
                    if action == SILENT:
                        continue
                    if action == CLOSE:
                        return
                    if isinstance(action, bytes):
                        self._send(conn, action)
                    else:
                        self._send(conn, json.dumps(action).encode('utf-8'))
        except OSError:
            return
        finally:
            conn.close()

    def close(self):
        try:
            self.listener.close()
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def run_rpc(*args, stdin=None, env=None, timeout=30, exe=None):
    cmd = ([exe] if exe else [sys.executable]) + [RPC_PY] + list(args)
    full_env = dict(os.environ)
    full_env.pop('SLUICE_RPC_SOCKET', None)
    if env:
        full_env.update(env)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


class RpcTestCase(unittest.TestCase):
    responder = None

    def start_server(self, responder=None, **kwargs):
        srv = FakeServer(responder or self.responder, **kwargs)
        self.addCleanup(srv.close)
        return srv

    def rpc(self, srv, *args, **kwargs):
        return run_rpc('-s', srv.path, *args, **kwargs)

    def assertRequest(self, req, method, params=None):
        self.assertEqual(req.get('jsonrpc'), '2.0')
        self.assertEqual(req.get('method'), method)
        self.assertIsInstance(req.get('id'), int)
        if params is None:
            self.assertNotIn('params', req, 'no params expected: %r' % req)
        else:
            self.assertEqual(req.get('params'), params)
        expected_keys = {'jsonrpc', 'method', 'id'} | ({'params'} if params is not None else set())
        self.assertEqual(set(req), expected_keys)

    def call_one(self, args, method, params=None, result=True, stdout=''):
        """Run rpc.py once; check the one request sent and the output."""
        srv = self.start_server(lambda req: ok(req, result))
        p = self.rpc(srv, *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(srv.requests), 1, srv.requests)
        self.assertRequest(srv.requests[0], method, params)
        self.assertEqual(p.stdout, stdout)
        return p


class RequestShapeTests(RpcTestCase):
    def test_rpc_get_methods_no_flags_sends_no_params(self):
        self.call_one(['rpc_get_methods'], 'rpc_get_methods', None,
                      result=['rpc_get_methods', 'spdk_get_version'],
                      stdout='[\n  "rpc_get_methods",\n  "spdk_get_version"\n]\n')

    def test_rpc_get_methods_flags(self):
        self.call_one(['rpc_get_methods', '--current', '--include-aliases'], 'rpc_get_methods',
                      {'current': True, 'include_aliases': True}, result=[], stdout='[]\n')
        self.call_one(['rpc_get_methods', '-c'], 'rpc_get_methods', {'current': True},
                      result=[], stdout='[]\n')

    def test_underscore_option_spelling(self):
        self.call_one(['rpc_get_methods', '--include_aliases'], 'rpc_get_methods',
                      {'include_aliases': True}, result=[], stdout='[]\n')

    def test_no_param_methods(self):
        for m in ('spdk_get_version', 'sluice_get_version', 'framework_get_reactors',
                  'thread_get_stats', 'log_get_flags', 'log_get_level',
                  'log_get_print_level', 'bdev_wait_for_examine', 'framework_wait_init'):
            with self.subTest(method=m):
                self.call_one([m], m, None)

    def test_log_methods(self):
        self.call_one(['log_set_flag', 'nvme'], 'log_set_flag', {'flag': 'nvme'})
        self.call_one(['log_clear_flag', 'bdev'], 'log_clear_flag', {'flag': 'bdev'})
        self.call_one(['log_set_level', 'DEBUG'], 'log_set_level', {'level': 'DEBUG'})
        self.call_one(['log_set_print_level', 'NOTICE'], 'log_set_print_level',
                      {'level': 'NOTICE'})
        self.call_one(['log_get_level'], 'log_get_level', None, result='NOTICE',
                      stdout='NOTICE\n')

    def test_spdk_kill_instance(self):
        self.call_one(['spdk_kill_instance', 'SIGTERM'], 'spdk_kill_instance',
                      {'sig_name': 'SIGTERM'})

    def test_bdev_malloc_create_minimal(self):
        # 64 MiB of 512-byte blocks; optional flags omitted are not sent.
        self.call_one(['bdev_malloc_create', '64', '512'], 'bdev_malloc_create',
                      {'num_blocks': 131072, 'block_size': 512},
                      result='Malloc0', stdout='Malloc0\n')

    def test_bdev_malloc_create_all_flags(self):
        uuid = '7d3b1c2e-0000-4000-8000-000000000001'
        self.call_one(['bdev_malloc_create', '-b', 'M1', '-u', uuid, '128', '4096',
                       '-o', '8'], 'bdev_malloc_create',
                      {'num_blocks': 32768, 'block_size': 4096, 'name': 'M1',
                       'uuid': uuid, 'optimal_io_boundary': 8},
                      result='M1', stdout='M1\n')
        self.call_one(['bdev_malloc_create', '--name', 'M2', '--optimal-io-boundary', '0',
                       '1', '4096'], 'bdev_malloc_create',
                      {'num_blocks': 256, 'block_size': 4096, 'name': 'M2',
                       'optimal_io_boundary': 0}, result='M2', stdout='M2\n')

    def test_bdev_malloc_create_fractional_size(self):
        # SPDK takes the size as a float and floors the block count.
        self.call_one(['bdev_malloc_create', '0.5', '512'], 'bdev_malloc_create',
                      {'num_blocks': 1024, 'block_size': 512}, result='Malloc0',
                      stdout='Malloc0\n')
        self.call_one(['bdev_malloc_create', '0.1', '4096'], 'bdev_malloc_create',
                      {'num_blocks': 25, 'block_size': 4096}, result='Malloc0',
                      stdout='Malloc0\n')
        self.call_one(['bdev_malloc_create', '1', '520'], 'bdev_malloc_create',
                      {'num_blocks': 2016, 'block_size': 520}, result='Malloc0',
                      stdout='Malloc0\n')

    def test_bdev_malloc_create_rejects_bad_sizes(self):
        for args in (['0', '512'], ['64', '0'], ['abc', '512'], ['64']):
            with self.subTest(args=args):
                p = run_rpc('--dry-run', 'bdev_malloc_create', *args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn('usage:', p.stderr)

    def test_bdev_malloc_delete(self):
        self.call_one(['bdev_malloc_delete', 'Malloc0'], 'bdev_malloc_delete',
                      {'name': 'Malloc0'})

    def test_bdev_null(self):
        self.call_one(['bdev_null_create', 'Null0', '8', '4096'], 'bdev_null_create',
                      {'name': 'Null0', 'num_blocks': 2048, 'block_size': 4096},
                      result='Null0', stdout='Null0\n')
        uuid = '11111111-2222-4333-8444-555555555555'
        self.call_one(['bdev_null_create', '-u', uuid, 'Null1', '1', '512'],
                      'bdev_null_create',
                      {'name': 'Null1', 'num_blocks': 2048, 'block_size': 512, 'uuid': uuid},
                      result='Null1', stdout='Null1\n')
        self.call_one(['bdev_null_delete', 'Null0'], 'bdev_null_delete', {'name': 'Null0'})

    def test_bdev_aio_and_uring(self):
        for kind in ('aio', 'uring'):
            with self.subTest(kind=kind):
                m = 'bdev_%s_create' % kind
                self.call_one([m, '/tmp/disk.img', 'D0'], m,
                              {'filename': '/tmp/disk.img', 'name': 'D0'},
                              result='D0', stdout='D0\n')
                self.call_one([m, '/tmp/disk.img', 'D1', '4096'], m,
                              {'filename': '/tmp/disk.img', 'name': 'D1', 'block_size': 4096},
                              result='D1', stdout='D1\n')
                self.call_one([m, '/tmp/disk.img', 'D2', '0'], m,
                              {'filename': '/tmp/disk.img', 'name': 'D2'},
                              result='D2', stdout='D2\n')
                d = 'bdev_%s_delete' % kind
                self.call_one([d, 'D0'], d, {'name': 'D0'})

    def test_bdev_error(self):
        self.call_one(['bdev_error_create', 'Malloc0'], 'bdev_error_create',
                      {'base_name': 'Malloc0'}, result='EE_Malloc0', stdout='EE_Malloc0\n')
        self.call_one(['bdev_error_delete', 'EE_Malloc0'], 'bdev_error_delete',
                      {'name': 'EE_Malloc0'})
        self.call_one(['bdev_error_inject_error', 'EE_Malloc0', 'read', 'failure'],
                      'bdev_error_inject_error',
                      {'name': 'EE_Malloc0', 'io_type': 'read', 'error_type': 'failure'})
        self.call_one(['bdev_error_inject_error', 'EE_Malloc0', 'all', 'pending', '-n', '5'],
                      'bdev_error_inject_error',
                      {'name': 'EE_Malloc0', 'io_type': 'all', 'error_type': 'pending',
                       'num': 5})

    def test_bdev_get_bdevs_and_iostat(self):
        bdevs = [{'name': 'Malloc0', 'block_size': 512, 'num_blocks': 131072}]
        expected_out = json.dumps(bdevs, indent=2) + '\n'
        self.call_one(['bdev_get_bdevs'], 'bdev_get_bdevs', None, result=bdevs,
                      stdout=expected_out)
        self.call_one(['bdev_get_bdevs', '-b', 'Malloc0', '-t', '1000'], 'bdev_get_bdevs',
                      {'name': 'Malloc0', 'timeout': 1000}, result=bdevs, stdout=expected_out)
        self.call_one(['bdev_get_bdevs', '--name', 'Malloc0', '--timeout-ms', '5'],
                      'bdev_get_bdevs', {'name': 'Malloc0', 'timeout': 5}, result=bdevs,
                      stdout=expected_out)
        self.call_one(['bdev_get_iostat'], 'bdev_get_iostat', None, result={'bdevs': []},
                      stdout='{\n  "bdevs": []\n}\n')
        self.call_one(['bdev_get_iostat', '-b', 'Malloc0'], 'bdev_get_iostat',
                      {'name': 'Malloc0'}, result={'bdevs': []},
                      stdout='{\n  "bdevs": []\n}\n')

    def test_sock_methods(self):
        self.call_one(['sock_set_default_impl', '-i', 'uring'], 'sock_set_default_impl',
                      {'impl_name': 'uring'})
        opts = {'recv_buf_size': 2097152, 'enable_recv_pipe': True}
        self.call_one(['sock_impl_get_options', '--impl', 'posix'], 'sock_impl_get_options',
                      {'impl_name': 'posix'}, result=opts,
                      stdout=json.dumps(opts, indent=2) + '\n')
        self.call_one(['sock_impl_set_options', '-i', 'posix'], 'sock_impl_set_options',
                      {'impl_name': 'posix'})
        self.call_one(['sock_impl_set_options', '-i', 'posix', '-r', '4096', '-s', '8192',
                       '-p', '0', '--disable-recv-pipe', '--recv-pipe-size', '65536',
                       '--enable-quickack', '--enable-zerocopy-send-server',
                       '--disable-zerocopy-send-client', '--zerocopy-threshold', '16384',
                       '--tls-version', '0', '--disable-ktls'],
                      'sock_impl_set_options',
                      {'impl_name': 'posix', 'recv_buf_size': 4096, 'send_buf_size': 8192,
                       'enable_placement_id': 0, 'enable_recv_pipe': False,
                       'recv_pipe_size': 65536, 'enable_quickack': True,
                       'enable_zerocopy_send_server': True,
                       'enable_zerocopy_send_client': False, 'zerocopy_threshold': 16384,
                       'tls_version': 0, 'enable_ktls': False})
        for m in ('sock_impl_get_options', 'sock_impl_set_options', 'sock_set_default_impl'):
            with self.subTest(method=m):
                p = run_rpc('--dry-run', m)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn('-i/--impl', p.stderr)

    def test_request_is_single_compact_object(self):
        srv = self.start_server()
        p = self.rpc(srv, 'log_set_flag', 'nvme')
        self.assertEqual(p.returncode, 0, p.stderr)
        raw = b''.join(srv.raw)
        obj = json.loads(raw.decode())
        self.assertEqual(obj, {'jsonrpc': '2.0', 'method': 'log_set_flag', 'id': 1,
                               'params': {'flag': 'nvme'}})


class OutputTests(RpcTestCase):
    def test_object_result_pretty_printed(self):
        version = {'version': 'Sluice v0.1', 'fields': {'major': 0, 'minor': 1}}
        self.call_one(['spdk_get_version'], 'spdk_get_version', None, result=version,
                      stdout=json.dumps(version, indent=2) + '\n')

    def test_true_result_prints_nothing(self):
        self.call_one(['bdev_wait_for_examine'], 'bdev_wait_for_examine', None,
                      result=True, stdout='')

    def test_quiet_method_prints_nothing_even_for_data(self):
        self.call_one(['log_set_flag', 'x'], 'log_set_flag', {'flag': 'x'},
                      result={'unexpected': 1}, stdout='')

    def test_save_config_indent(self):
        config = {'subsystems': [{'subsystem': 'bdev', 'config': [
            {'method': 'bdev_malloc_create', 'params': {'name': 'M0', 'num_blocks': 8,
                                                        'block_size': 512}}]}]}
        self.call_one(['save_config'], 'save_config', None, result=config,
                      stdout=json.dumps(config, indent=2) + '\n')
        self.call_one(['save_config', '-i', '4'], 'save_config', None, result=config,
                      stdout=json.dumps(config, indent=4) + '\n')
        self.call_one(['save_config', '--indent', '-1'], 'save_config', None, result=config,
                      stdout=json.dumps(config) + '\n')

    def test_save_config_fallback_to_per_subsystem(self):
        def responder(req):
            m = req['method']
            if m == 'save_config':
                return err(req, -32601, 'Method not found')
            if m == 'framework_get_subsystems':
                return ok(req, [{'subsystem': 'bdev', 'depends_on': []},
                                {'subsystem': 'nvmf', 'depends_on': ['bdev']}])
            if m == 'framework_get_config':
                return ok(req, [{'method': 'x_%s' % req['params']['name']}])
            return err(req, -32601, 'Method not found')
        srv = self.start_server(responder)
        p = self.rpc(srv, 'save_config')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {'subsystems': [
            {'subsystem': 'bdev', 'config': [{'method': 'x_bdev'}]},
            {'subsystem': 'nvmf', 'config': [{'method': 'x_nvmf'}]}]})
        self.assertEqual([r['method'] for r in srv.requests],
                         ['save_config', 'framework_get_subsystems',
                          'framework_get_config', 'framework_get_config'])
        self.assertEqual([r['id'] for r in srv.requests], [1, 2, 3, 4])

    def test_dry_run_does_not_connect(self):
        p = run_rpc('-s', '/nonexistent/dir/sock', '--dry-run', 'bdev_null_create', 'N', '1',
                    '512')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith('Request:\n'), p.stdout)
        req = json.loads(p.stdout[len('Request:\n'):])
        self.assertRequest(req, 'bdev_null_create',
                           {'name': 'N', 'num_blocks': 2048, 'block_size': 512})

    def test_verbose_logs_to_stderr_only(self):
        srv = self.start_server(lambda req: ok(req, {'a': 1}))
        p = self.rpc(srv, '-v', 'thread_get_stats')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, '{\n  "a": 1\n}\n')
        self.assertIn('INFO: request:', p.stderr)
        self.assertIn('INFO: response:', p.stderr)
        p = self.rpc(srv, '--verbose', 'DEBUG', 'thread_get_stats')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('DEBUG:', p.stderr)


class ErrorTests(RpcTestCase):
    def test_jsonrpc_error_response(self):
        srv = self.start_server(lambda req: err(req, -19, 'No such device'))
        p = self.rpc(srv, 'bdev_malloc_delete', 'Nope')
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, '')
        self.assertIn('No such device', p.stderr)
        self.assertIn('-19', p.stderr)
        self.assertIn('request:', p.stderr)
        self.assertIn('Got JSON-RPC error response', p.stderr)
        self.assertIn('response:', p.stderr)
        self.assertIn('"method": "bdev_malloc_delete"', p.stderr)
        # The error object is shown as indented JSON.
        self.assertIn('{\n  "code": -19,\n  "message": "No such device"\n}', p.stderr)

    def test_connection_refused(self):
        d = tempfile.mkdtemp(prefix='rpcpy-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'dead.sock')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()   # socket file left behind, nobody listening
        p = run_rpc('-s', path, 'spdk_get_version')
        self.assertEqual(p.returncode, 1)
        self.assertIn('cannot connect to %s' % path, p.stderr)
        self.assertIn('refused', p.stderr.lower())
        self.assertNotIn('Traceback', p.stderr)

    def test_missing_socket(self):
        path = '/nonexistent/dir/sluice.sock'
        p = run_rpc('-s', path, 'spdk_get_version')
        self.assertEqual(p.returncode, 1)
        self.assertIn('cannot connect to %s' % path, p.stderr)
        self.assertNotIn('Traceback', p.stderr)

    def test_timeout(self):
        srv = self.start_server(lambda req: SILENT)
        t0 = time.monotonic()
        p = self.rpc(srv, '-t', '0.5', 'bdev_wait_for_examine')
        elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 1)
        self.assertIn('timeout', p.stderr.lower())
        self.assertNotIn('Traceback', p.stderr)
        self.assertLess(elapsed, 10)

    def test_timeout_with_partial_response(self):
        # Half a response then silence must still time out, not hang.
        srv = self.start_server(lambda req: b'{"jsonrpc": "2.0", "id": 1, "resu')
        p = self.rpc(srv, '-t', '0.5', 'thread_get_stats')
        self.assertEqual(p.returncode, 1)
        self.assertIn('timeout', p.stderr.lower())

    def test_connection_closed_mid_response(self):
        def responder(req):
            return CLOSE
        srv = self.start_server(responder)
        p = self.rpc(srv, 'thread_get_stats')
        self.assertEqual(p.returncode, 1)
        self.assertIn('closed', p.stderr)
        self.assertNotIn('Traceback', p.stderr)

    def test_kill_instance_tolerates_close_without_reply(self):
        srv = self.start_server(lambda req: CLOSE)
        p = self.rpc(srv, 'spdk_kill_instance', 'SIGINT')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRequest(srv.requests[0], 'spdk_kill_instance', {'sig_name': 'SIGINT'})

    def test_invalid_response(self):
        srv = self.start_server(lambda req: b'this is not json\n')
        p = self.rpc(srv, '-t', '5', 'thread_get_stats')
        self.assertEqual(p.returncode, 1)
        self.assertIn('invalid response', p.stderr)
        self.assertNotIn('Traceback', p.stderr)

    def test_tcp_address_rejected(self):
        p = run_rpc('-s', '127.0.0.1', '-p', '5260', 'spdk_get_version')
        self.assertEqual(p.returncode, 1)
        self.assertIn('not supported', p.stderr)

    def test_unknown_method_is_usage_error(self):
        p = run_rpc('no_such_method')
        self.assertEqual(p.returncode, 2)
        self.assertIn('invalid choice', p.stderr)


class ChunkingTests(RpcTestCase):
    RESULT = {'name': 'Malloc0', 'aliases': ['a\u00e9\u4e2d'], 'nested': {'x': [1, 2, {'y': '}'}]}}

    def _check(self, **server_kwargs):
        srv = self.start_server(lambda req: ok(req, self.RESULT), **server_kwargs)
        p = self.rpc(srv, 'bdev_get_bdevs', '-b', 'Malloc0')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), self.RESULT)
        self.assertEqual(p.stdout, json.dumps(self.RESULT, indent=2) + '\n')

    def test_one_byte_chunks(self):
        self._check(chunk=1, delay=0.001)

    def test_one_byte_chunks_with_newline(self):
        self._check(chunk=1, delay=0.001, trailer=b'\n')

    def test_odd_chunks_non_ascii_raw(self):
        # Raw UTF-8 (not \u escapes) split inside multi-byte characters.
        payload = ('{"jsonrpc":"2.0","id":1,"result":' +
                   json.dumps(self.RESULT, ensure_ascii=False) + '}\r\n').encode('utf-8')
        srv = self.start_server(lambda req: payload, chunk=3, delay=0.002)
        p = self.rpc(srv, 'bdev_get_bdevs')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), self.RESULT)

    def test_large_response(self):
        big = [{'name': 'Malloc%d' % i, 'num_blocks': i, 'driver_specific': {'k': 'v' * 50}}
               for i in range(20000)]
        srv = self.start_server(lambda req: ok(req, big), chunk=65536)
        t0 = time.monotonic()
        p = self.rpc(srv, 'bdev_get_bdevs')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(json.loads(p.stdout)), 20000)
        self.assertLess(time.monotonic() - t0, 20)


class ConfigLoadTests(RpcTestCase):
    CONFIG = {'subsystems': [
        {'subsystem': 'bdev', 'config': [
            {'method': 'bdev_malloc_create',
             'params': {'name': 'M0', 'num_blocks': 64, 'block_size': 512}},
            {'method': 'bdev_unknown_thing', 'params': {'a': 1}},
            {'method': 'bdev_wait_for_examine'}]},
        {'subsystem': 'empty', 'config': None},
        {'subsystem': 'log', 'config': [
            {'method': 'log_set_flag', 'params': {'flag': 'nvme'}}]}]}

    KNOWN = ['rpc_get_methods', 'bdev_malloc_create', 'bdev_wait_for_examine', 'log_set_flag']

    def responder(self, req):
        if req['method'] == 'rpc_get_methods':
            return ok(req, self.KNOWN)
        if req['method'] == 'bdev_malloc_create':
            return ok(req, 'M0')
        return ok(req, True)

    def _expect_calls(self, srv):
        self.assertEqual([r['method'] for r in srv.requests],
                         ['rpc_get_methods', 'bdev_malloc_create', 'bdev_wait_for_examine',
                          'log_set_flag'])
        self.assertRequest(srv.requests[1], 'bdev_malloc_create',
                           self.CONFIG['subsystems'][0]['config'][0]['params'])
        self.assertRequest(srv.requests[2], 'bdev_wait_for_examine', None)
        self.assertRequest(srv.requests[3], 'log_set_flag', {'flag': 'nvme'})
        self.assertEqual([r['id'] for r in srv.requests], [1, 2, 3, 4])
        self.assertEqual(len(set(srv.conn_of)), 1)

    def test_load_config_stdin(self):
        srv = self.start_server(self.responder)
        p = self.rpc(srv, 'load_config', stdin=json.dumps(self.CONFIG))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, '')
        self.assertIn('bdev_unknown_thing', p.stderr)
        self.assertIn('WARNING', p.stderr)
        self._expect_calls(srv)

    def test_load_config_file(self):
        d = tempfile.mkdtemp(prefix='rpcpy-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'conf.json')
        with open(path, 'w') as f:
            json.dump(self.CONFIG, f)
        srv = self.start_server(self.responder)
        p = self.rpc(srv, 'load_config', '-j', path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self._expect_calls(srv)

    def test_load_config_include_aliases(self):
        srv = self.start_server(self.responder)
        p = self.rpc(srv, 'load_config', '-i', stdin=json.dumps({'subsystems': []}))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRequest(srv.requests[0], 'rpc_get_methods', {'include_aliases': True})

    def test_load_config_stops_on_first_error(self):
        def responder(req):
            if req['method'] == 'bdev_malloc_create':
                return err(req, -17, 'File exists')
            return self.responder(req)
        srv = self.start_server(responder)
        p = self.rpc(srv, 'load_config', stdin=json.dumps(self.CONFIG))
        self.assertEqual(p.returncode, 1)
        self.assertIn('File exists', p.stderr)
        self.assertEqual([r['method'] for r in srv.requests],
                         ['rpc_get_methods', 'bdev_malloc_create'])

    def test_load_config_bad_json(self):
        srv = self.start_server(self.responder)
        p = self.rpc(srv, 'load_config', stdin='{not json')
        self.assertEqual(p.returncode, 1)
        self.assertIn('JSON', p.stderr)
        self.assertNotIn('Traceback', p.stderr)

    def test_save_then_load_round_trip(self):
        def responder(req):
            if req['method'] == 'save_config':
                return ok(req, self.CONFIG)
            return self.responder(req)
        srv = self.start_server(responder)
        p = self.rpc(srv, 'save_config')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.rpc(srv, 'load_config', stdin=p.stdout)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([r['method'] for r in srv.requests][-3:],
                         ['bdev_malloc_create', 'bdev_wait_for_examine', 'log_set_flag'])


class CliTests(RpcTestCase):
    def test_help(self):
        p = run_rpc('--help')
        self.assertEqual(p.returncode, 0, p.stderr)
        for m in ('rpc_get_methods', 'bdev_malloc_create', 'save_config', 'load_config',
                  'log_set_print_level', 'bdev_error_inject_error', 'spdk_kill_instance'):
            self.assertIn(m, p.stdout)

    def test_method_help(self):
        p = run_rpc('bdev_malloc_create', '--help')
        self.assertEqual(p.returncode, 0, p.stderr)
        for s in ('total_size', 'block_size', '--name', '--uuid', '--optimal-io-boundary'):
            self.assertIn(s, p.stdout)
        p = run_rpc('bdev_get_bdevs', '-h')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('--timeout-ms', p.stdout)

    def test_no_method_prints_help_and_fails(self):
        p = run_rpc(stdin='')
        self.assertEqual(p.returncode, 1)
        self.assertIn('usage:', p.stdout)

    def test_env_socket(self):
        srv = self.start_server(lambda req: ok(req, {'v': 1}))
        p = run_rpc('sluice_get_version', env={'SLUICE_RPC_SOCKET': srv.path})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(srv.requests), 1)
        # -s wins over the environment.
        p = run_rpc('-s', srv.path, 'sluice_get_version',
                    env={'SLUICE_RPC_SOCKET': '/nonexistent/x.sock'})
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_default_socket_path(self):
        p = run_rpc('-t', '1', 'spdk_get_version')
        if p.returncode == 0:
            self.skipTest('a target is listening on /var/tmp/sluice.sock')
        self.assertIn('/var/tmp/sluice.sock', p.stderr)

    def test_server_mode(self):
        srv = self.start_server(lambda req: (err(req, -32601, 'Method not found')
                                             if req['method'] == 'log_get_flags'
                                             else ok(req, {'m': req['method']})))
        lines = '\n'.join([
            '-s %s thread_get_stats' % srv.path,
            '-s %s log_get_flags' % srv.path,
            '-s %s no_such_method' % srv.path,
            '-s %s framework_get_reactors' % srv.path,
        ]) + '\n'
        p = run_rpc('--server', stdin=lines)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout,
                         '{\n  "m": "thread_get_stats"\n}\n**STATUS=0\n'
                         '**STATUS=1\n'
                         '**STATUS=1\n'
                         '{\n  "m": "framework_get_reactors"\n}\n**STATUS=0\n')
        self.assertIn('Method not found', p.stderr)
        # One connection per command.
        self.assertEqual(sorted(set(srv.conn_of)), [1, 2, 3])

    def test_runs_with_both_interpreters(self):
        exes = []
        for exe in ('/usr/bin/python3', shutil.which('python3')):
            if exe and os.path.exists(exe) and os.path.realpath(exe) not in \
                    [os.path.realpath(e) for e in exes]:
                exes.append(exe)
        srv = self.start_server(lambda req: ok(req, 'X'))
        for exe in exes:
            with self.subTest(exe=exe):
                p = run_rpc('-s', srv.path, 'bdev_error_create', 'B', exe=exe)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stdout, 'X\n')

    def test_executable_via_shebang(self):
        self.assertTrue(os.access(RPC_PY, os.X_OK), 'scripts/rpc.py is not executable')
        with open(RPC_PY) as f:
            self.assertEqual(f.readline(), '#!/usr/bin/env python3\n')
        p = subprocess.run([RPC_PY, '--help'], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_stdlib_only(self):
        # Only standard-library modules may be imported.
        with open(RPC_PY) as f:
            src = f.read()
        import ast
        mods = set()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import):
                mods.update(a.name.split('.')[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                mods.add((node.module or '').split('.')[0])
        stdlib = getattr(sys, 'stdlib_module_names', None)
        if stdlib is None:
            self.skipTest('sys.stdlib_module_names needs Python >= 3.10')
        self.assertEqual(sorted(m for m in mods if m not in stdlib), [])


class CountingResult(unittest.TextTestResult):
    """Counts subtests' parent test once; a test fails if any part failed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failed_ids = set()
        self.all_ids = set()

    def startTest(self, test):
        self.all_ids.add(test.id())
        super().startTest(test)

    def addFailure(self, test, err):
        self.failed_ids.add(test.id())
        super().addFailure(test, err)

    def addError(self, test, err):
        self.failed_ids.add(getattr(test, 'id', lambda: str(test))())
        super().addError(test, err)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.failed_ids.add(test.id())
        super().addSubTest(test, subtest, err)

    def addUnexpectedSuccess(self, test):
        self.failed_ids.add(test.id())
        super().addUnexpectedSuccess(test)


def main():
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(sys.modules[__name__])
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=CountingResult)
    result = runner.run(suite)
    sys.stdout.flush()
    sys.stderr.flush()
    failed = len(result.failed_ids)
    passed = len(result.all_ids - result.failed_ids)
    print('%d passed, %d failed' % (passed, failed), flush=True)
    return 0 if failed == 0 and result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
