#!/usr/bin/env python3
#
# Sluice JSON-RPC command-line client.
#
# The command-line syntax (global options, method names, positional arguments
# and flags) follows SPDK's scripts/rpc.py so that existing SPDK scripts keep
# working against a Sluice target.  Python 3 standard library only.
#
# Usage:
#   rpc.py [-s SOCK] [-t TIMEOUT] [-r RETRIES] [-v | --verbose LEVEL]
#          [--dry-run] METHOD [method arguments]
#   rpc.py --server            (read rpc.py command lines from stdin)
#
# Adding a method
# ---------------
# Most methods are a single `rpc(...)` call in the METHOD TABLE section below:
#
#   rpc('bdev_foo_delete', 'Delete a foo bdev',
#       pos('name', help='foo bdev name'))
#
# Every argument becomes a JSON parameter named after its argparse dest
# (override with param='...', or param=None to keep it out of the request).
# Arguments left at None are not sent, so the server's defaults apply; flags
# made with flag() are None unless given.  When params must be computed, pass
# build=<function(args, params) -> params>.  Methods whose result SPDK's
# rpc.py does not print take quiet=True.  Commands that are not a single RPC
# (save_config, load_config) are written with the @command decorator.

import argparse
import codecs
import json
import os
import shlex
import socket
import sys
import time
from decimal import Decimal, InvalidOperation

DEFAULT_SOCKET = '/var/tmp/sluice.sock'
SOCKET_ENV = 'SLUICE_RPC_SOCKET'
DEFAULT_TIMEOUT = 60.0

# JSON-RPC 2.0 "method not found".
JSONRPC_METHOD_NOT_FOUND = -32601

LOG_LEVELS = {'DEBUG': 10, 'INFO': 20, 'ERROR': 40}


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

class RpcError(Exception):
    """A failure that makes the command exit with status 1."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class RpcErrorResponse(RpcError):
    """The server answered with a JSON-RPC error object."""

    def __init__(self, method, req_id, params, error):
        self.method = method
        self.req_id = req_id
        self.params = params
        self.error = error
        shown = dict(params or {})
        shown['method'] = method
        shown['req_id'] = req_id
        message = '\n'.join([
            'request:',
            json.dumps(shown, indent=2),
            'Got JSON-RPC error response',
            'response:',
            json.dumps(error, indent=2),
        ])
        super().__init__(message)

    @property
    def code(self):
        return self.error.get('code') if isinstance(self.error, dict) else None


class ConnectionClosed(RpcError):
    pass


# ---------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------

class Logger:
    def __init__(self, level_name):
        self.level = LOG_LEVELS.get((level_name or 'ERROR').upper(), 40)

    def log(self, level_name, msg):
        if LOG_LEVELS[level_name] >= self.level:
            print('%s: %s' % (level_name, msg), file=sys.stderr, flush=True)

    def debug(self, msg):
        self.log('DEBUG', msg)

    def info(self, msg):
        self.log('INFO', msg)


def _looks_like_ip(addr):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, addr)
            return True
        except (OSError, ValueError):
            pass
    return False


class Client:
    """JSON-RPC 2.0 client over a UNIX stream socket.

    One connection carries any number of sequential calls; request ids start
    at 1 and increase by one per call.
    """

    def __init__(self, path, timeout=DEFAULT_TIMEOUT, logger=None, conn_retries=0):
        self.path = path
        self.timeout = timeout
        self.log = logger or Logger('ERROR')
        self.sock = None
        self._next_id = 1
        self._text = ''
        self._utf8 = codecs.getincrementaldecoder('utf-8')()
        if timeout is None or timeout <= 0:
            raise RpcError('invalid timeout value: %s (must be > 0)' % timeout)
        if _looks_like_ip(path):
            raise RpcError('cannot connect to %s: TCP/IP addresses are not supported, '
                           'give the path of the UNIX domain socket with -s' % path)
        for _ in range(max(conn_retries, 0)):
            try:
                self._connect()
                return
            except RpcError:
                time.sleep(0.2)
        self._connect()

    def _connect(self):
        self.log.debug('connecting to UNIX socket %s' % self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except socket.timeout:
            sock.close()
            raise RpcError('cannot connect to %s: timed out after %gs' % (self.path, self.timeout))
        except OSError as ex:
            sock.close()
            reason = ex.strerror or str(ex)
            raise RpcError('cannot connect to %s: %s\nIs the Sluice target running?'
                           % (self.path, reason))
        self.sock = sock

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, req):
        data = json.dumps(req).encode('utf-8')
        self.log.info('request:\n%s' % json.dumps(req, indent=2))
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except socket.timeout:
            raise RpcError('timeout: could not send the request to %s within %gs'
                           % (self.path, self.timeout))
        except OSError as ex:
            raise ConnectionClosed('error sending request to %s: %s'
                                   % (self.path, ex.strerror or ex))

    def _try_decode(self):
        """Return one decoded JSON value from the buffer, or None if incomplete."""
        text = self._text.lstrip()
        self._text = text
        if not text:
            return None
        if text[0] not in '{[':
            raise RpcError('invalid response from %s (not a JSON object):\n%s'
                           % (self.path, text[:1000]))
        # A complete object or array ends with '}' or ']' (a trailing newline
        # may follow).  Checking that first keeps large responses linear.
        if text.rstrip()[-1] not in '}]':
            return None
        try:
            value, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            return None
        self._text = text[end:]
        return value

    def _recv(self, deadline):
        while True:
            value = self._try_decode()
            if value is not None:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise
            except OSError as ex:
                raise ConnectionClosed('error reading response from %s: %s'
                                       % (self.path, ex.strerror or ex))
            self.log.debug('received %d bytes' % len(chunk))
            if not chunk:
                partial = (self._text + self._utf8.decode(b'', final=False)).strip()
                if partial:
                    raise ConnectionClosed('connection to %s closed with an incomplete '
                                           'response:\n%s' % (self.path, partial[:1000]))
                raise ConnectionClosed('connection to %s closed before a response arrived'
                                       % self.path)
            self._text += self._utf8.decode(chunk)

    def call(self, method, params=None):
        req_id = self._next_id
        self._next_id += 1
        req = {'jsonrpc': '2.0', 'method': method, 'id': req_id}
        if params:
            req['params'] = params
        self._send(req)
        deadline = time.monotonic() + self.timeout
        try:
            resp = self._recv(deadline)
        except socket.timeout:
            raise RpcError('timeout: no response from %s to %s within %gs'
                           % (self.path, method, self.timeout))
        self.log.info('response:\n%s' % json.dumps(resp, indent=2))
        if not isinstance(resp, dict):
            raise RpcError('invalid response from %s (expected a JSON object):\n%s'
                           % (self.path, json.dumps(resp, indent=2)))
        if 'error' in resp:
            raise RpcErrorResponse(method, req_id, params, resp['error'])
        if 'result' not in resp:
            raise RpcError('invalid response from %s (no "result" or "error"):\n%s'
                           % (self.path, json.dumps(resp, indent=2)))
        return resp['result']


class DryRunClient:
    """Prints each request instead of sending it; every call returns None."""

    def __init__(self):
        self._next_id = 1

    def call(self, method, params=None):
        req = {'jsonrpc': '2.0', 'method': method, 'id': self._next_id}
        self._next_id += 1
        if params:
            req['params'] = params
        print('Request:\n' + json.dumps(req, indent=2))
        return None

    def close(self):
        pass


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def print_result(result):
    """Print a result the way SPDK's rpc.py does: pretty JSON, strings bare."""
    if result is True:
        return
    if isinstance(result, str):
        print(json.dumps(result, indent=2).strip('"'))
    else:
        print(json.dumps(result, indent=2))


# ---------------------------------------------------------------------------
# Method table machinery
# ---------------------------------------------------------------------------

class Arg:
    """One argparse argument; `param` is its JSON key (None: never sent)."""

    _FROM_DEST = object()

    def __init__(self, *flags, param=_FROM_DEST, **kwargs):
        self.flags = flags
        self.param = param
        self.kwargs = kwargs

    def add_to(self, parser):
        action = parser.add_argument(*self.flags, **self.kwargs)
        if self.param is Arg._FROM_DEST:
            self.param = action.dest
        self.dest = action.dest


def pos(name, **kwargs):
    """Positional argument."""
    return Arg(name, **kwargs)


def opt(*flags, **kwargs):
    """Optional argument taking a value (None, i.e. not sent, unless given)."""
    return Arg(*flags, **kwargs)


def flag(*flags, **kwargs):
    """Boolean switch: sent as true when given, not sent otherwise."""
    kwargs.setdefault('default', None)
    return Arg(*flags, action='store_true', **kwargs)


class Method:
    def __init__(self, name, help, args, build=None, quiet=False, handler=None,
                 aliases=()):
        self.name = name
        self.help = help
        self.args = list(args)
        self.build = build
        self.quiet = quiet
        self.handler = handler
        self.aliases = tuple(aliases)

    def params(self, ns):
        params = {}
        for a in self.args:
            if a.param is None:
                continue
            value = getattr(ns, a.dest, None)
            if value is not None:
                params[a.param] = value
        if self.build is not None:
            params = self.build(ns, params)
        return params

    def run(self, client, ns):
        if self.handler is not None:
            return self.handler(client, ns)
        result = client.call(self.name, self.params(ns))
        if not self.quiet and result is not None:
            print_result(result)
        return 0


METHODS = []


def rpc(name, help, *args, build=None, quiet=False, aliases=()):
    """Register a method that maps to exactly one JSON-RPC call."""
    m = Method(name, help, args, build=build, quiet=quiet, aliases=aliases)
    METHODS.append(m)
    return m


def command(name, help, *args, aliases=()):
    """Decorator registering a client-side command: fn(client, args) -> rc."""
    def register(fn):
        METHODS.append(Method(name, help, args, handler=fn, aliases=aliases))
        return fn
    return register


# Argument types -------------------------------------------------------------

def positive_number(text):
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError('invalid number: %r' % text)
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError('must be a number > 0: %r' % text)
    return value


def positive_int(text):
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError('invalid integer: %r' % text)
    if value <= 0:
        raise argparse.ArgumentTypeError('must be an integer > 0: %r' % text)
    return value


def mb_to_blocks(total_size_mb, block_size):
    """num_blocks = total_size_MB * 1024 * 1024 // block_size (floored)."""
    return int((Decimal(total_size_mb) * 1024 * 1024) // block_size)


# ---------------------------------------------------------------------------
# METHOD TABLE
# ---------------------------------------------------------------------------

# --- framework / rpc --------------------------------------------------------

rpc('rpc_get_methods', 'Get list of supported RPC methods',
    flag('-c', '--current', help='Get list of RPC methods only callable in the current state.'),
    flag('-i', '--include-aliases', help='include RPC aliases'))

rpc('spdk_get_version', 'Get the target version (SPDK-compatible name)')
rpc('sluice_get_version', 'Get the Sluice version')
rpc('framework_wait_init', 'Block until subsystems have been initialized', quiet=True)
rpc('framework_get_reactors', 'Display list of all reactors')
rpc('thread_get_stats', 'Display current statistics of all the threads')

rpc('spdk_kill_instance', 'Send signal to instance',
    pos('sig_name', help='signal to send to the target, e.g. SIGINT or SIGTERM'),
    quiet=True)

# --- log ----------------------------------------------------------------------

rpc('log_set_flag', 'set log flag',
    pos('flag', help='log flag to set (for example "nvme")'), quiet=True)
rpc('log_clear_flag', 'clear log flag',
    pos('flag', help='log flag to clear (for example "nvme")'), quiet=True)
rpc('log_get_flags', 'get log flags')
rpc('log_set_level', 'set log level',
    pos('level', help='log level to set (for example "DEBUG")'), quiet=True)
rpc('log_get_level', 'get log level')
rpc('log_set_print_level', 'set log print level',
    pos('level', help='log print level to set (for example "DEBUG")'), quiet=True)
rpc('log_get_print_level', 'get log print level')


# --- configuration ------------------------------------------------------------

def _dump_config(config, indent):
    # SPDK semantics: indent < 0 means compact output.
    if indent is not None and indent < 0:
        indent = None
    print(json.dumps(config, indent=indent))


@command('save_config',
         'Write current (live) configuration of subsystems and targets to stdout',
         opt('-i', '--indent', type=int, default=2, param=None,
             help='Indent level. Value less than 0 means compact mode. Default: 2.'))
def save_config(client, args):
    try:
        config = client.call('save_config')
    except RpcErrorResponse as ex:
        if ex.code != JSONRPC_METHOD_NOT_FOUND:
            raise
        # Server without a save_config RPC: assemble the config per subsystem
        # like SPDK does.
        config = {'subsystems': []}
        for sub in client.call('framework_get_subsystems') or []:
            name = sub['subsystem']
            config['subsystems'].append({
                'subsystem': name,
                'config': client.call('framework_get_config', {'name': name}),
            })
    if config is not None:
        _dump_config(config, args.indent)
    return 0


def _read_json_conf(source):
    """-j value: a file path, or the JSON text itself; default stdin."""
    try:
        if source is None:
            return json.load(sys.stdin)
        if os.path.exists(source):
            with open(source, 'r') as f:
                return json.load(f)
        return json.loads(source)
    except (OSError, ValueError) as ex:
        raise RpcError('cannot read JSON configuration: %s' % ex)


@command('load_config', 'Configure subsystems and targets from a JSON configuration '
         '(as written by save_config), read from stdin or -j',
         flag('-i', '--include-aliases', help='include RPC aliases'),
         opt('-j', '--json-conf', help='JSON configuration file or text (default: stdin)'))
def load_config(client, args):
    conf = _read_json_conf(args.json_conf)
    if not isinstance(conf, dict) or not isinstance(conf.get('subsystems'), list):
        raise RpcError('invalid JSON configuration: expected an object with a '
                       '"subsystems" array')
    query = {'include_aliases': True} if args.include_aliases else None
    known = client.call('rpc_get_methods', query)
    for sub in conf['subsystems']:
        name = sub.get('subsystem', '?') if isinstance(sub, dict) else '?'
        entries = sub.get('config') if isinstance(sub, dict) else None
        for entry in entries or []:
            method = entry.get('method') if isinstance(entry, dict) else None
            if not isinstance(method, str):
                raise RpcError('invalid entry in subsystem "%s": %s'
                               % (name, json.dumps(entry)))
            if known is not None and method not in known:
                print('WARNING: skipping method "%s" (subsystem "%s"): not supported '
                      'by the target' % (method, name), file=sys.stderr)
                continue
            client.call(method, entry.get('params'))
    return 0


# --- bdev ---------------------------------------------------------------------

rpc('bdev_wait_for_examine', 'Report when all bdevs have been examined', quiet=True)

rpc('bdev_get_bdevs', 'Display current blockdev list or required blockdev',
    opt('-b', '--name', help='Name of the Blockdev. Example: Nvme0n1'),
    opt('-t', '--timeout-ms', type=int, param='timeout',
        help='Time in ms to wait for the bdev to appear (only used with -b). '
             'Default 0: return immediately.'))

rpc('bdev_get_iostat', 'Display current I/O statistics of all the blockdevs or required blockdev',
    opt('-b', '--name', help='Name of the Blockdev. Example: Nvme0n1'))


def _malloc_params(args, params):
    out = {'num_blocks': mb_to_blocks(args.total_size, args.block_size),
           'block_size': args.block_size}
    out.update(params)
    return out


rpc('bdev_malloc_create', 'Create a bdev with malloc backend',
    opt('-b', '--name', help='Name of the bdev'),
    opt('-u', '--uuid', help='UUID of the bdev'),
    pos('total_size', type=positive_number, param=None,
        help='Size of malloc bdev in MB (float > 0)'),
    pos('block_size', type=positive_int, param=None, help='Block size for this bdev'),
    opt('-o', '--optimal-io-boundary', type=int,
        help='Split on optimal IO boundary, in number of blocks, default 0 (disabled)'),
    build=_malloc_params)

rpc('bdev_malloc_delete', 'Delete a malloc disk',
    pos('name', help='malloc bdev name'), quiet=True)


def _null_params(args, params):
    out = {'name': args.name,
           'num_blocks': mb_to_blocks(args.total_size, args.block_size),
           'block_size': args.block_size}
    out.update(params)
    return out


rpc('bdev_null_create', 'Add a bdev with null backend',
    pos('name', param=None, help='Block device name'),
    opt('-u', '--uuid', help='UUID of the bdev'),
    pos('total_size', type=positive_int, param=None,
        help='Size of null bdev in MB (int > 0)'),
    pos('block_size', type=positive_int, param=None, help='Block size for this bdev'),
    build=_null_params)

rpc('bdev_null_delete', 'Delete a null bdev',
    pos('name', help='null bdev name'), quiet=True)


def _drop_zero_block_size(args, params):
    # SPDK treats a block size of 0 (its old default) as "autodetect": not sent.
    if not params.get('block_size'):
        params.pop('block_size', None)
    return params


rpc('bdev_aio_create', 'Add a bdev with aio backend',
    pos('filename', help='Path to device or file (ex: /dev/sda)'),
    pos('name', help='Block device name'),
    pos('block_size', type=int, nargs='?', help='Block size for this bdev (default: autodetect)'),
    build=_drop_zero_block_size)

rpc('bdev_aio_delete', 'Delete an aio disk',
    pos('name', help='aio bdev name'), quiet=True)

rpc('bdev_uring_create', 'Create a bdev with io_uring backend',
    pos('filename', help='Path to device or file (ex: /dev/nvme0n1)'),
    pos('name', help='bdev name'),
    pos('block_size', type=int, nargs='?', help='Block size for this bdev (default: autodetect)'),
    build=_drop_zero_block_size)

rpc('bdev_uring_delete', 'Delete a uring bdev',
    pos('name', help='uring bdev name'), quiet=True)

rpc('bdev_error_create', 'Add bdev with error injection backend',
    pos('base_name', help='base bdev name'))

rpc('bdev_error_delete', 'Delete an error bdev',
    pos('name', help='error bdev name'), quiet=True)

rpc('bdev_error_inject_error', 'bdev inject error',
    pos('name', help='the name of the error injection bdev'),
    pos('io_type', help="io_type: 'clear' 'read' 'write' 'unmap' 'flush' 'all'"),
    pos('error_type', help="error_type: 'failure' 'pending'"),
    opt('-n', '--num', type=int, help='the number of commands you want to fail (server default: 1)'),
    quiet=True)


# --- nvme ---------------------------------------------------------------------

rpc('bdev_nvme_attach_controller', 'Add bdevs with nvme backend',
    opt('-b', '--name', required=True,
        help='Name of the NVMe controller, prefix for each bdev name'),
    opt('-t', '--trtype', required=True, help='NVMe-oF target trtype: e.g., PCIe'),
    opt('-a', '--traddr', required=True, help='NVMe-oF target address: e.g., a PCI BDF'),
    opt('-f', '--adrfam', help='NVMe-oF target adrfam: e.g., ipv4, ipv6 (not for PCIe)'),
    opt('-s', '--trsvcid', help='NVMe-oF target trsvcid: e.g., a port number (not for PCIe)'),
    opt('-n', '--subnqn', help='NVMe-oF target subnqn (not for PCIe)'),
    opt('-q', '--hostnqn', help='NVMe-oF host subnqn (not for PCIe)'))

rpc('bdev_nvme_detach_controller', 'Detach an NVMe controller and delete any associated bdevs',
    pos('name', help='Controller name'), quiet=True)

rpc('bdev_nvme_reset_controller', 'Reset an NVMe controller',
    pos('name', help='NVMe controller name'), quiet=True)

rpc('bdev_nvme_get_controllers', 'Display current NVMe controllers list or required NVMe controller',
    opt('-n', '--name', help='Name of the NVMe controller. Example: Nvme0'))


# --- sock ---------------------------------------------------------------------

def on_off(name, help):
    """--enable-NAME / --disable-NAME pair for the boolean parameter enable_NAME."""
    dest = 'enable_' + name.replace('-', '_')
    return (Arg('--enable-' + name, dest=dest, action='store_true', default=None,
                help='Enable ' + help),
            Arg('--disable-' + name, dest=dest, action='store_false', default=None,
                help='Disable ' + help))


rpc('sock_impl_get_options', 'Get options of socket layer implementation',
    opt('-i', '--impl', param='impl_name', required=True,
        help='Socket implementation name, e.g. posix'))

rpc('sock_impl_set_options', 'Set options of socket layer implementation',
    opt('-i', '--impl', param='impl_name', required=True,
        help='Socket implementation name, e.g. posix'),
    opt('-r', '--recv-buf-size', type=int, help='Size of receive buffer on socket in bytes'),
    opt('-s', '--send-buf-size', type=int, help='Size of send buffer on socket in bytes'),
    opt('-p', '--enable-placement-id', type=int,
        help='Option for placement-id (only 0, disabled, is supported)'),
    *on_off('recv-pipe', 'receive pipe'),
    opt('--recv-pipe-size', type=int, help='Size of the receive pipe in bytes (Sluice)'),
    *on_off('quickack', 'quick ACK'),
    *on_off('zerocopy-send-server', 'zerocopy on send for server sockets'),
    *on_off('zerocopy-send-client', 'zerocopy on send for client sockets'),
    opt('--zerocopy-threshold', type=int,
        help='Set zerocopy_threshold in bytes. A consecutive sequence of requests\' iovecs '
             'that fall below this threshold may be sent without zerocopy flag set'),
    opt('--tls-version', type=int, help='TLS protocol version (only 0 is supported)'),
    *on_off('ktls', 'Kernel TLS (not supported)'),
    quiet=True)

rpc('sock_set_default_impl', 'Set the default sock implementation',
    opt('-i', '--impl', param='impl_name', required=True,
        help='Socket implementation name, e.g. posix'),
    quiet=True)


# --- nvmf ---------------------------------------------------------------------

def _c2h_success(args, params):
    # SPDK's -o disables the C2H success optimization.
    if params.pop('c2h_success_off', None):
        params['c2h_success'] = False
    return params


rpc('nvmf_create_transport', 'Create NVMf transport',
    opt('-t', '--trtype', required=True, help='Transport type (TCP)'),
    opt('-g', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'),
    opt('-q', '--max-queue-depth', type=int, help='Max number of outstanding I/O per queue'),
    opt('-m', '--max-io-qpairs-per-ctrlr', type=int, help='Max number of IO qpairs per controller'),
    opt('-c', '--in-capsule-data-size', type=int, help='Max number of in-capsule data size'),
    opt('-i', '--max-io-size', type=int, help='Max I/O size (bytes)'),
    opt('-u', '--io-unit-size', type=int, help='I/O unit size (bytes)'),
    opt('-a', '--max-aq-depth', type=int, help='Max number of admin cmds per AQ'),
    opt('-n', '--num-shared-buffers', type=int,
        help='The number of pooled data buffers available to the transport'),
    opt('-b', '--buf-cache-size', type=int,
        help='The number of shared buffers to reserve for each poll group'),
    flag('-z', '--zcopy', help='Use zero-copy operations if the transport supports them'),
    flag('-o', '--c2h-success', dest='c2h_success_off', param='c2h_success_off',
         help='Disable C2H success optimization (TCP only)'),
    flag('-f', '--dif-insert-or-strip', help='Enable DIF insert/strip (not supported)'),
    opt('-y', '--sock-priority', type=int, help='The sock priority of the tcp connection'),
    opt('-p', '--abort-timeout-sec', type=int, help='Abort execution timeout value, in seconds'),
    opt('-l', '--acceptor-poll-rate', type=int, help='Polling interval of the acceptor (us)'),
    quiet=True, build=_c2h_success)

rpc('nvmf_get_transports', 'Display nvmf transports or required transport',
    opt('--trtype', help='Transport type (optional)'),
    opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'))

rpc('nvmf_create_subsystem', 'Create an NVMe-oF subsystem',
    pos('nqn', help='Subsystem NQN (ASCII)'),
    opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'),
    opt('-s', '--serial-number', help='Format: \'sn\' etc (at most 20 printable characters)'),
    opt('-d', '--model-number', help='Model number (at most 40 printable characters)'),
    flag('-a', '--allow-any-host', help='Allow any host to connect (don\'t enforce allowed host NQN list)'),
    opt('-m', '--max-namespaces', type=int, help='Maximum number of namespaces allowed'),
    flag('-r', '--ana-reporting', help='Enable ANA reporting feature (not supported)'),
    opt('-i', '--min-cntlid', type=int, help='Minimum controller ID'),
    opt('-I', '--max-cntlid', type=int, help='Maximum controller ID'),
    quiet=True)

rpc('nvmf_delete_subsystem', 'Delete a nvmf subsystem',
    pos('nqn', help='subsystem nqn to be deleted'),
    opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'),
    quiet=True)


def _listen_address(args, params):
    addr = {'trtype': params.pop('trtype'), 'traddr': params.pop('traddr')}
    for key in ('adrfam', 'trsvcid'):
        if key in params:
            addr[key] = params.pop(key)
    params['listen_address'] = addr
    return params


def _listener_args():
    return (pos('nqn', help='NVMe-oF subsystem NQN (\'discovery\' can be used as shortcut '
                           'for discovery NQN)'),
            opt('-t', '--trtype', required=True, help='NVMe-oF transport type: e.g., tcp'),
            opt('-a', '--traddr', required=True, help='NVMe-oF transport address: e.g., an ip address'),
            opt('-p', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'),
            opt('-f', '--adrfam', help='NVMe-oF transport adrfam: e.g., ipv4, ipv6'),
            opt('-s', '--trsvcid', help='NVMe-oF transport service id: e.g., a port number '
                                        '(required for TCP)'))


def _discovery_shortcut(args, params):
    if params.get('nqn') == 'discovery':
        params['nqn'] = 'nqn.2014-08.org.nvmexpress.discovery'
    return _listen_address(args, params)


rpc('nvmf_subsystem_add_listener', 'Add a listener to an NVMe-oF subsystem',
    *_listener_args(), quiet=True, build=_discovery_shortcut)

rpc('nvmf_subsystem_remove_listener', 'Remove a listener from an NVMe-oF subsystem',
    *_listener_args(), quiet=True, build=_discovery_shortcut)


def _namespace(args, params):
    ns = {'bdev_name': params.pop('bdev_name')}
    for key in ('nsid', 'nguid', 'eui64', 'uuid'):
        if key in params:
            ns[key] = params.pop(key)
    params['namespace'] = ns
    return params


rpc('nvmf_subsystem_add_ns', 'Add a namespace to an NVMe-oF subsystem',
    pos('nqn', help='NVMe-oF subsystem NQN'),
    pos('bdev_name', help='The name of the bdev that will back this namespace'),
    opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'),
    opt('-n', '--nsid', type=int, help='The requested NSID (optional)'),
    opt('-g', '--nguid', help='Namespace globally unique identifier (optional)'),
    opt('-e', '--eui64', help='Namespace EUI-64 identifier (optional)'),
    opt('-u', '--uuid', help='Namespace UUID (optional)'),
    build=_namespace)

rpc('nvmf_subsystem_remove_ns', 'Remove a namespace to an NVMe-oF subsystem',
    pos('nqn', help='NVMe-oF subsystem NQN'),
    pos('nsid', type=int, help='The requested NSID'),
    opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'),
    quiet=True)

for _name, _help in (('nvmf_subsystem_add_host', 'Add a host to an NVMe-oF subsystem'),
                     ('nvmf_subsystem_remove_host', 'Remove a host from an NVMe-oF subsystem')):
    rpc(_name, _help,
        pos('nqn', help='NVMe-oF subsystem NQN'),
        pos('host', help='Host NQN to allow'),
        opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'),
        quiet=True)


def _allow_any(args, params):
    params['allow_any_host'] = not args.disable
    params.pop('enable', None)
    params.pop('disable', None)
    return params


rpc('nvmf_subsystem_allow_any_host', 'Allow any host to connect to the subsystem',
    pos('nqn', help='NVMe-oF subsystem NQN'),
    flag('-e', '--enable', param=None, help='Enable allowing any host'),
    flag('-d', '--disable', param=None, help='Disable allowing any host'),
    opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'),
    quiet=True, build=_allow_any)

rpc('nvmf_get_subsystems', 'Display nvmf subsystems or required subsystem',
    pos('nqn', nargs='?', help='Subsystem NQN (optional)'),
    opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'))

for _name, _help in (('nvmf_subsystem_get_controllers', 'Display controllers of an NVMe-oF subsystem'),
                     ('nvmf_subsystem_get_qpairs', 'Display queue pairs of an NVMe-oF subsystem')):
    rpc(_name, _help,
        pos('nqn', help='NVMe-oF subsystem NQN'),
        opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'))

rpc('nvmf_get_stats', 'Display current statistics for NVMf subsystem',
    opt('-t', '--tgt-name', help='The name of the parent NVMe-oF target (optional)'))


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(
        prog=os.path.basename(sys.argv[0]) or 'rpc.py',
        description='Sluice JSON-RPC command line interface (SPDK rpc.py compatible)',
        usage='%(prog)s [options] METHOD [method arguments]')
    parser.add_argument('-s', dest='server_addr', default=None,
                        help='RPC domain socket path. Default: $%s if set, else %s'
                             % (SOCKET_ENV, DEFAULT_SOCKET))
    parser.add_argument('-p', dest='port', type=int, default=5260,
                        help='RPC port number (accepted for SPDK compatibility; only UNIX '
                             'domain sockets are supported)')
    parser.add_argument('-t', dest='timeout', type=float, default=DEFAULT_TIMEOUT,
                        help='Timeout as a floating point number expressed in seconds waiting '
                             'for response. Default: 60.0')
    parser.add_argument('-r', dest='conn_retries', type=int, default=0,
                        help='Retry connecting to the RPC server N times with 0.2s interval. '
                             'Default: 0')
    parser.add_argument('-v', dest='verbose', action='store_const', const='INFO',
                        default='ERROR', help='Set verbose mode to INFO')
    parser.add_argument('--verbose', dest='verbose', choices=sorted(LOG_LEVELS),
                        help='Set verbose level')
    parser.add_argument('--dry-run', dest='dry_run', action='store_true',
                        help='Display request and exit')
    parser.add_argument('--server', dest='is_server', action='store_true',
                        help='Read rpc.py command lines from stdin and run each on its own '
                             'connection; each command\'s output ends with **STATUS=0 on '
                             'success or **STATUS=1 on failure (for bash coproc use). Give '
                             'no other arguments with it.')
    sub = parser.add_subparsers(dest='called_rpc_name', metavar='METHOD',
                                title='methods', prog=parser.prog + ' [options]')
    for m in METHODS:
        p = sub.add_parser(m.name, aliases=list(m.aliases), help=m.help,
                           description=m.help)
        for a in m.args:
            a.add_to(p)
        p.set_defaults(method=m)
    return parser


def normalize_option_names(argv):
    """Accept --long_option as --long-option (older SPDK spellings)."""
    out = []
    for arg in argv:
        if arg.startswith('--') and '_' in arg:
            name, sep, value = arg.partition('=')
            arg = name.replace('_', '-') + sep + value
        out.append(arg)
    return out


def socket_path(args):
    if args.server_addr is not None:
        return args.server_addr
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def execute(args):
    """Run one parsed command line; return its exit status."""
    method = args.method
    if args.dry_run:
        client = DryRunClient()
    else:
        client = Client(socket_path(args), args.timeout, Logger(args.verbose),
                        args.conn_retries)
    try:
        return method.run(client, args) or 0
    except ConnectionClosed:
        # The target may exit before answering a kill request.
        if method.name == 'spdk_kill_instance':
            return 0
        raise
    finally:
        client.close()


def serve_stdin(parser):
    for line in sys.stdin:
        argv = normalize_option_names(shlex.split(line))
        if not argv:
            continue
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            print('**STATUS=1', flush=True)
            continue
        if getattr(args, 'method', None) is None or args.is_server:
            print('rpc.py --server: no method given', file=sys.stderr)
            print('**STATUS=1', flush=True)
            continue
        try:
            rc = execute(args)
        except RpcError as ex:
            print(ex.message, file=sys.stderr, flush=True)
            rc = 1
        sys.stdout.flush()
        print('**STATUS=%d' % (0 if rc == 0 else 1), flush=True)
    return 0


def main(argv=None):
    parser = build_parser()
    argv = normalize_option_names(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.is_server:
        return serve_stdin(parser)
    if getattr(args, 'method', None) is None:
        parser.print_help()
        return 1
    try:
        return execute(args)
    except RpcError as ex:
        print(ex.message, file=sys.stderr)
        return 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # Output piped into e.g. `head` that exited early: leave quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
