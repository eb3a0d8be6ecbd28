#!/usr/bin/env python3
"""Send raw bytes to a JSON-RPC UNIX socket and print the replies.

usage: raw_client.py SOCK [--chunk N] [--close-after-send] DATA
DATA is sent as given (use $'..' in bash for control bytes); with --chunk the
bytes go out N at a time. Prints every JSON reply on its own line, then
'CLOSED' if the server closed the connection, or 'OPEN' when it stays open
through a quiet period (10 s before the first reply, 0.5 s after one).
"""
import json
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    sock_path = args.pop(0)
    chunk = 0
    close_after = False
    while args and args[0].startswith('--'):
        opt = args.pop(0)
        if opt == '--chunk':
            chunk = int(args.pop(0))
        elif opt == '--close-after-send':
            close_after = True
    data = args[0].encode() if args else b''
    if data.startswith(b'@'):
        with open(data[1:].decode(), 'rb') as f:
            data = f.read()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    step = chunk or len(data) or 1
    try:
        for i in range(0, len(data), step):
            s.sendall(data[i:i + step])
            if chunk:
                time.sleep(0.001)
    except (BrokenPipeError, ConnectionResetError):
        pass
    if close_after:
        s.close()
        print('SENT')
        return
    s.settimeout(10.0)
    buf = b''
    dec = json.JSONDecoder()
    state = 'OPEN'
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            state = 'CLOSED'
            break
        if not d:
            state = 'CLOSED'
            break
        buf += d
        text = buf.decode(errors='replace')
        while True:
            text = text.lstrip()
            if not text:
                break
            try:
                obj, end = dec.raw_decode(text)
            except ValueError:
                break
            print(json.dumps(obj, sort_keys=True))
            text = text[end:]
            s.settimeout(0.5)
        buf = text.encode()
    print(state)


if __name__ == '__main__':
    main()
