from flask import Flask

DEBUG = True  # expect: shunter.debug-mode-enabled

app = Flask(__name__)

if __name__ == "__main__":
    app.run(host="127.0.0.1", debug=True)  # expect: shunter.debug-mode-enabled
