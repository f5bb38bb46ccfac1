import os

from flask import Flask

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"

app = Flask(__name__)

if __name__ == "__main__":
    app.run(host="127.0.0.1", debug=False)
